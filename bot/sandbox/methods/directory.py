"""Who is who: auth.test, team.info, users.* and usergroups.* (the bot reads them,
and sets the members of a user group that follows an on-call schedule)."""

from __future__ import annotations

import re
from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.methods.args import Args, paginate
from bot.sandbox.state import State

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


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


def usergroups_users_update(state: State, args: Args) -> dict[str, Any]:
    """Replace a group's whole member list, checked as Slack's method reference lists its errors:
    a missing ``usergroup`` (``missing_argument``), no ``users`` at all (``no_users_provided``), an
    empty or malformed list or a bot in it (``invalid_users``), someone not in the workspace
    (``failed_for_some_users``), an unknown group (``no_such_subteam``)."""
    if "usergroup" not in args:
        raise SlackError("missing_argument")
    if args.values.get("users") is None:
        raise SlackError("no_users_provided")
    users = list(dict.fromkeys(args.id_list("users")))
    if not users or any(not _USER_ID.fullmatch(u) for u in users):
        raise SlackError("invalid_users")
    if any(u not in state.users for u in users):
        raise SlackError("failed_for_some_users")
    if any(state.users[u].is_bot for u in users):
        raise SlackError("invalid_users")
    group = state.usergroups.get(args.text("usergroup"))
    if group is None:
        raise SlackError("no_such_subteam")
    group.users = users
    return {"ok": True, "usergroup": group.to_slack(state.identity.team_id, include_users=True)}


METHODS = {
    "auth.test": auth_test,
    "team.info": team_info,
    "users.info": users_info,
    "users.list": users_list,
    "users.lookupByEmail": users_lookup_by_email,
    "usergroups.list": usergroups_list,
    "usergroups.users.list": usergroups_users_list,
    "usergroups.users.update": usergroups_users_update,
}
