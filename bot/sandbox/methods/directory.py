"""Who is who: auth.test, team.info, users.* and usergroups.* (read-only, like the bot's scopes)."""

from __future__ import annotations

from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.methods.args import Args, paginate
from bot.sandbox.state import State


def auth_test(state: State, args: Args) -> dict[str, Any]:
    identity = state.identity
    return {
        "ok": True,
        "url": f"https://{identity.team_domain}.slack.com/",
        "team": identity.team_name,
        "user": identity.bot_name,
        "team_id": identity.team_id,
        "user_id": identity.bot_user_id,
        "bot_id": identity.bot_id,
        "is_enterprise_install": False,
    }


def team_info(state: State, args: Args) -> dict[str, Any]:
    identity = state.identity
    return {
        "ok": True,
        "team": {
            "id": identity.team_id,
            "name": identity.team_name,
            "url": f"https://{identity.team_domain}.slack.com/",
            "domain": identity.team_domain,
            "email_domain": f"{identity.team_domain}.test",
            "icon": {"image_default": True},
            "enterprise_id": None,
            "enterprise_name": None,
        },
    }


def users_info(state: State, args: Args) -> dict[str, Any]:
    user = state.users.get(args.text("user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"ok": True, "user": user.to_slack(state.identity.team_id)}


def users_list(state: State, args: Args) -> dict[str, Any]:
    page, cursor = paginate(list(state.users.values()), args)
    return {
        "ok": True,
        "members": [u.to_slack(state.identity.team_id) for u in page],
        "cache_ts": 1732800000,
        "response_metadata": {"next_cursor": cursor},
    }


def users_lookup_by_email(state: State, args: Args) -> dict[str, Any]:
    email = args.text("email").lower()
    user = next((u for u in state.users.values() if not u.is_bot and u.email == email), None)
    if user is None:
        raise SlackError("users_not_found")
    return {"ok": True, "user": user.to_slack(state.identity.team_id)}


def usergroups_list(state: State, args: Args) -> dict[str, Any]:
    include_users = args.flag("include_users")
    return {
        "ok": True,
        "usergroups": [
            g.to_slack(state.identity.team_id, include_users=include_users) for g in state.usergroups.values()
        ],
    }


def usergroups_users_list(state: State, args: Args) -> dict[str, Any]:
    group = state.usergroups.get(args.text("usergroup"))
    if group is None:
        raise SlackError("no_such_subteam")
    return {"ok": True, "users": list(group.users)}


METHODS = {
    "auth.test": auth_test,
    "team.info": team_info,
    "users.info": users_info,
    "users.list": users_list,
    "users.lookupByEmail": users_lookup_by_email,
    "usergroups.list": usergroups_list,
    "usergroups.users.list": usergroups_users_list,
}
