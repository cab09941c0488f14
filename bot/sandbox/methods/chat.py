"""chat.*: posting, editing, ephemeral messages and permalinks under Slack's rules.

The app is assumed to hold `chat:write.public`: it may post in any public channel, but a private
channel it is not in is invisible. A user id as `channel` means the bot's DM with that user.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.blocks import MESSAGE_BLOCK_LIMIT, block_errors, is_block_list, with_block_ids
from bot.sandbox.errors import SlackError
from bot.sandbox.methods.args import Args
from bot.sandbox.methods.lookup import existing_message, visible_channel
from bot.sandbox.models import Channel
from bot.sandbox.state import State

MAX_TEXT_LENGTH = 40_000


def read_content(args: Args) -> tuple[str, list[dict[str, Any]]]:
    """`text` and `blocks`, validated; `no_text` when both are missing."""
    text = args.text("text")
    blocks = args.json("blocks", error="invalid_blocks_format") if "blocks" in args else []
    if not is_block_list(blocks):
        raise SlackError("invalid_blocks_format")
    if not text and not blocks:
        raise SlackError("no_text")
    if len(text) > MAX_TEXT_LENGTH:
        raise SlackError("msg_too_long")
    errors = block_errors(blocks, limit=MESSAGE_BLOCK_LIMIT)
    if errors:
        raise SlackError("invalid_blocks", errors=errors, response_metadata={"messages": errors})
    return text, with_block_ids(blocks)


def _target_channel(state: State, ref: str) -> Channel:
    if ref in state.users and ref != state.identity.bot_user_id:
        return state.im_with(ref)
    channel = state.resolve_channel(ref) if ref else None
    return visible_channel(state, channel.id if channel else "")


def _thread_root(state: State, channel: Channel, thread_ts: str) -> str | None:
    """The parent ts a reply belongs under; a reply's own ts is mapped to its parent, as Slack does."""
    if not thread_ts:
        return None
    parent = state.find_message(channel, thread_ts)
    if parent is None:
        raise SlackError("thread_not_found")
    return parent.thread_ts or parent.ts


def post_message(state: State, args: Args) -> dict[str, Any]:
    channel = _target_channel(state, args.text("channel"))
    text, blocks = read_content(args)
    thread_ts = _thread_root(state, channel, args.text("thread_ts"))
    message = state.post(channel, state.identity.bot_user_id, text, blocks, thread_ts)
    return {
        "ok": True,
        "channel": channel.id,
        "ts": message.ts,
        "message": message.to_slack(state.identity.team_id, state.identity.app_id),
    }


def update(state: State, args: Args) -> dict[str, Any]:
    channel = _target_channel(state, args.text("channel"))
    message = existing_message(state, channel, args.text("ts"))
    if message.user != state.identity.bot_user_id:
        raise SlackError("cant_update_message")
    text, blocks = read_content(args)
    if "text" in args:
        message.text = text
    if "blocks" in args:
        message.blocks = blocks
    message.edited = True
    return {
        "ok": True,
        "channel": channel.id,
        "ts": message.ts,
        "text": message.text,
        "message": message.to_slack(state.identity.team_id, state.identity.app_id),
    }


def post_ephemeral(state: State, args: Args) -> dict[str, Any]:
    channel = _target_channel(state, args.text("channel"))
    user_id = args.text("user")
    if user_id not in state.users:
        raise SlackError("user_not_found")
    if user_id not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks = read_content(args)
    thread_ts = args.text("thread_ts") or None
    ephemeral = state.add_ephemeral(channel.id, user_id, text, blocks, "chat.postEphemeral", thread_ts)
    return {"ok": True, "message_ts": ephemeral.ts}


def get_permalink(state: State, args: Args) -> dict[str, Any]:
    channel = visible_channel(state, args.text("channel"))
    message = existing_message(state, channel, args.text("message_ts"))
    permalink = f"https://{state.identity.team_domain}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        permalink += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"ok": True, "channel": channel.id, "permalink": permalink}


METHODS = {
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.postEphemeral": post_ephemeral,
    "chat.getPermalink": get_permalink,
}
