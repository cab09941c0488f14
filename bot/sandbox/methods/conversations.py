"""conversations.*: channel lifecycle, membership, topics and reading history, with Slack's error codes."""

from __future__ import annotations

import re
from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.methods.args import Args, paginate
from bot.sandbox.methods.lookup import existing_message, message_json, require_member, visible_channel
from bot.sandbox.models import Channel
from bot.sandbox.state import State

MAX_NAME_LENGTH = 80
MAX_TOPIC_LENGTH = 250
MAX_INVITES = 1000
TIER_ONE_LIMIT = 15
_NAME_CHARS = re.compile(r"[a-z0-9_-]+")


def _channel_json(state: State, channel: Channel, *, include_num_members: bool = False) -> dict[str, Any]:
    return channel.to_slack(state.identity.bot_user_id, include_num_members=include_num_members)


def _check_name(state: State, name: str) -> None:
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > MAX_NAME_LENGTH:
        raise SlackError("invalid_name_maxlength")
    if not _NAME_CHARS.fullmatch(name):
        raise SlackError("invalid_name_specials")
    if not re.search(r"[a-z0-9]", name):
        raise SlackError("invalid_name_punctuation")
    if any(not c.is_im and c.name == name for c in state.channels.values()):
        raise SlackError("name_taken")


def create(state: State, args: Args) -> dict[str, Any]:
    name = args.text("name")
    _check_name(state, name)
    bot = state.identity.bot_user_id
    channel = state.add_channel(name, is_private=args.flag("is_private"), members=[bot], creator=bot)
    return {"ok": True, "channel": _channel_json(state, channel)}


def invite(state: State, args: Args) -> dict[str, Any]:
    """All-or-nothing like Slack: one bad id fails the call (listing each in `errors`) unless force=true."""
    channel = visible_channel(state, args.text("channel"))
    if channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    require_member(state, channel)
    users = list(dict.fromkeys(args.id_list("users")))
    if not users:
        raise SlackError("no_user")
    if len(users) > MAX_INVITES:
        raise SlackError("too_many_users")
    valid, errors = [], []
    for user_id in users:
        if user_id not in state.users:
            error = "user_not_found"
        elif user_id == state.identity.bot_user_id:
            error = "cant_invite_self"
        elif user_id in channel.members:
            error = "already_in_channel"
        else:
            valid.append(user_id)
            continue
        errors.append({"user": user_id, "ok": False, "error": error})
    if errors and (not args.flag("force") or not valid):
        raise SlackError(errors[0]["error"], errors=errors)
    channel.members.update(valid)
    body: dict[str, Any] = {"ok": True, "channel": _channel_json(state, channel)}
    if errors:
        body["errors"] = errors
    return body


def set_topic(state: State, args: Args) -> dict[str, Any]:
    channel = visible_channel(state, args.text("channel"))
    require_member(state, channel)
    topic = args.text("topic")
    if len(topic) > MAX_TOPIC_LENGTH:
        raise SlackError("too_long")
    channel.topic = topic
    return {"ok": True, "channel": _channel_json(state, channel)}


def info(state: State, args: Args) -> dict[str, Any]:
    channel = visible_channel(state, args.text("channel"))
    include = args.flag("include_num_members")
    return {"ok": True, "channel": _channel_json(state, channel, include_num_members=include)}


def list_(state: State, args: Args) -> dict[str, Any]:
    types = set(args.id_list("types") or ["public_channel"])
    bot = state.identity.bot_user_id

    def wanted(channel: Channel) -> bool:
        if channel.is_im:
            return "im" in types
        if channel.is_private:
            return "private_channel" in types and bot in channel.members
        return "public_channel" in types

    channels = [c for c in state.channels.values() if wanted(c)]
    page, cursor = paginate(channels, args)
    return {
        "ok": True,
        "channels": [_channel_json(state, c) for c in page],
        "response_metadata": {"next_cursor": cursor},
    }


def members(state: State, args: Args) -> dict[str, Any]:
    channel = visible_channel(state, args.text("channel"))
    page, cursor = paginate(sorted(channel.members), args)
    return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}


def join(state: State, args: Args) -> dict[str, Any]:
    channel = visible_channel(state, args.text("channel"))
    if channel.is_im or channel.is_private:
        raise SlackError("method_not_supported_for_channel_type")
    bot = state.identity.bot_user_id
    body: dict[str, Any] = {"ok": True}
    if bot in channel.members:
        body |= {"warning": "already_in_channel", "response_metadata": {"warnings": ["already_in_channel"]}}
    channel.members.add(bot)
    return body | {"channel": _channel_json(state, channel)}


def open_(state: State, args: Args) -> dict[str, Any]:
    """1:1 DMs only: the bot's IM with one user (Slack ids starting with D)."""
    if "channel" in args:
        channel = visible_channel(state, args.text("channel"))
        return {"ok": True, "channel": {"id": channel.id}}
    users = args.id_list("users")
    if not users:
        raise SlackError("users_list_not_supplied")
    if len(users) > 1:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["the sandbox opens 1:1 DMs only"]})
    if users[0] not in state.users or users[0] == state.identity.bot_user_id:
        raise SlackError("user_not_found")
    existed = any(c.is_im and c.im_user == users[0] for c in state.channels.values())
    channel = state.im_with(users[0])
    body: dict[str, Any] = {"ok": True}
    if existed:
        body |= {"no_op": True, "already_open": True}
    full = args.flag("return_im")
    return body | {"channel": _channel_json(state, channel) if full else {"id": channel.id}}


def _readable(state: State, args: Args) -> Channel:
    channel = visible_channel(state, args.text("channel"))
    require_member(state, channel)
    return channel


def history(state: State, args: Args) -> dict[str, Any]:
    """Top-level messages, newest first, within oldest/latest like Slack's window."""
    channel = _readable(state, args)
    oldest, latest = args.ts("oldest", 0.0), args.ts("latest", float("inf"))
    inclusive = args.flag("inclusive")

    def in_window(ts: float) -> bool:
        return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

    found = [m for m in reversed(channel.messages) if not m.is_reply and in_window(float(m.ts))]
    limit = _tier_one_limit(state, "conversations.history", args)
    page, cursor = paginate(found, Args({**args.values, "limit": limit}))
    return {
        "ok": True,
        "messages": [message_json(state, channel, m) for m in page],
        "has_more": bool(cursor),
        "pin_count": len(channel.pins),
        "response_metadata": {"next_cursor": cursor},
    }


def replies(state: State, args: Args) -> dict[str, Any]:
    """A thread, the parent first and then its replies within oldest/latest (``ts`` may name the
    parent or any reply; a message without replies is a thread of one)."""
    channel = _readable(state, args)
    try:
        message = existing_message(state, channel, args.text("ts"))
    except SlackError:
        raise SlackError("thread_not_found") from None
    root = message.thread_ts or message.ts
    oldest, latest = args.ts("oldest", 0.0), args.ts("latest", float("inf"))
    inclusive = args.flag("inclusive")

    def in_window(ts: float) -> bool:
        return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

    thread = [m for m in channel.messages if m.ts == root or (m.thread_ts == root and in_window(float(m.ts)))]
    limit = _tier_one_limit(state, "conversations.replies", args)
    page, cursor = paginate(thread, Args({**args.values, "limit": limit}), default_limit=1000)
    return {
        "ok": True,
        "messages": [message_json(state, channel, m) for m in page],
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


def _tier_one_limit(state: State, method: str, args: Args) -> int | None:
    """Apps held to Tier 1 for history (``Workspace.rate_limit``) get at most 15 messages a call."""
    asked = args.number("limit", 0) or None
    if method in state.rate_limits:
        return min(asked or TIER_ONE_LIMIT, TIER_ONE_LIMIT)
    return asked


METHODS = {
    "conversations.create": create,
    "conversations.invite": invite,
    "conversations.setTopic": set_topic,
    "conversations.info": info,
    "conversations.list": list_,
    "conversations.members": members,
    "conversations.join": join,
    "conversations.open": open_,
    "conversations.history": history,
    "conversations.replies": replies,
}
