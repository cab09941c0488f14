"""Messages a bot sends back without the Web API: posts to a response_url, and a slash command's ack body.

Both follow Slack's rules: ephemeral to the invoking user unless `response_type` is "in_channel";
`replace_original` / `delete_original` act on the clicked message; a response_url takes at most
five posts within 30 minutes.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.methods.args import Args
from bot.sandbox.methods.chat import read_content
from bot.sandbox.state import RESPONSE_URL_MAX_POSTS, ResponseTarget, State


def deliver(state: State, target: ResponseTarget, body: dict[str, Any], via: str) -> None:
    """Apply one response body to the workspace; raises SlackError when Slack would refuse it."""
    if body.get("delete_original"):
        _delete_original(state, target)
        return
    text, blocks = read_content(Args(body))
    thread_ts = str(body["thread_ts"]) if body.get("thread_ts") else None
    if body.get("replace_original") and target.message_ts:
        _replace_original(state, target, text, blocks)
    elif body.get("response_type") == "in_channel":
        channel = state.channels[target.channel]
        state.post(channel, state.identity.bot_user_id, text, blocks, thread_ts)
    else:
        state.add_ephemeral(target.channel, target.user, text, blocks, via, thread_ts)


def post_to_response_url(state: State, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body the response_url endpoint answers."""
    target = state.response_targets.get(token)
    if target is None:
        return 404, {"ok": False, "error": "invalid_token"}
    if state.clock() > target.expires_at:
        return 404, {"ok": False, "error": "expired_url"}
    if target.posts >= RESPONSE_URL_MAX_POSTS:
        return 404, {"ok": False, "error": "used_url"}
    target.posts += 1
    try:
        deliver(state, target, body, "response_url")
    except SlackError as error:
        return 400, error.body()
    return 200, {"ok": True}


def _replace_original(state: State, target: ResponseTarget, text: str, blocks: list[dict[str, Any]]) -> None:
    if target.is_ephemeral:
        for ephemeral in state.ephemerals:
            if ephemeral.ts == target.message_ts and ephemeral.user == target.user:
                ephemeral.text, ephemeral.blocks = text, blocks
                return
        raise SlackError("message_not_found")
    message = state.find_message(state.channels[target.channel], target.message_ts or "")
    if message is None:
        raise SlackError("message_not_found")
    message.text, message.blocks, message.edited = text, blocks, True


def _delete_original(state: State, target: ResponseTarget) -> None:
    if target.is_ephemeral:
        state.ephemerals[:] = [e for e in state.ephemerals if not (e.ts == target.message_ts and e.user == target.user)]
        return
    channel = state.channels[target.channel]
    channel.messages[:] = [m for m in channel.messages if m.ts != target.message_ts]
