"""Things attached to a channel or message: pins, bookmarks, reactions."""

from __future__ import annotations

import re
import time
from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.methods.args import Args
from bot.sandbox.methods.lookup import existing_message, message_json, require_member, visible_channel
from bot.sandbox.models import Bookmark
from bot.sandbox.state import State

MAX_BOOKMARKS = 100
_EMOJI_NAME = re.compile(r"[a-z0-9_+'-]+")


def pins_add(state: State, args: Args) -> dict[str, Any]:
    channel = visible_channel(state, args.text("channel"))
    require_member(state, channel)
    if "timestamp" not in args:
        raise SlackError("no_item_specified")
    message = existing_message(state, channel, args.text("timestamp"))
    if message.ts in channel.pins:
        raise SlackError("already_pinned")
    channel.pins.append(message.ts)
    return {"ok": True}


def pins_list(state: State, args: Args) -> dict[str, Any]:
    channel = visible_channel(state, args.text("channel"))
    items = []
    for ts in channel.pins:
        message = existing_message(state, channel, ts)
        items.append(
            {
                "type": "message",
                "created": int(float(ts)),
                "created_by": state.identity.bot_user_id,
                "channel": channel.id,
                "message": message_json(state, channel, message),
            }
        )
    return {"ok": True, "items": items}


def bookmarks_add(state: State, args: Args) -> dict[str, Any]:
    channel = visible_channel(state, args.text("channel_id"))
    require_member(state, channel)
    if "title" not in args:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["missing required field: title"]})
    if args.text("type") != "link":
        raise SlackError("invalid_bookmark_type")
    link = args.text("link")
    if not link.startswith(("http://", "https://")):
        raise SlackError("invalid_link")
    emoji = args.text("emoji")
    if emoji and not _EMOJI_NAME.fullmatch(emoji.strip(":")):
        raise SlackError("invalid_emoji")
    if len(channel.bookmarks) >= MAX_BOOKMARKS:
        raise SlackError("too_many_bookmarks")
    bookmark = Bookmark(state.new_id("Bk"), channel.id, args.text("title"), link, emoji, int(time.time()))
    channel.bookmarks.append(bookmark)
    identity = state.identity
    return {"ok": True, "bookmark": bookmark.to_slack(identity.bot_user_id, identity.team_id, identity.app_id)}


def reactions_add(state: State, args: Args) -> dict[str, Any]:
    channel = visible_channel(state, args.text("channel"))
    if "timestamp" not in args:
        raise SlackError("no_item_specified")
    message = existing_message(state, channel, args.text("timestamp"))
    name = args.text("name").strip(":")
    if not _EMOJI_NAME.fullmatch(name):
        raise SlackError("invalid_name")
    users = message.reactions.setdefault(name, [])
    if state.identity.bot_user_id in users:
        raise SlackError("already_reacted")
    users.append(state.identity.bot_user_id)
    return {"ok": True}


METHODS = {
    "pins.add": pins_add,
    "pins.list": pins_list,
    "bookmarks.add": bookmarks_add,
    "reactions.add": reactions_add,
}
