"""Finding conversations and messages with Slack's visibility rules, shared by every method family.

A private channel the bot is not in does not exist as far as the bot can tell (`channel_not_found`);
a public one is visible but many writes still need membership (`not_in_channel`).
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.models import Channel, Message
from bot.sandbox.state import State


def visible_channel(state: State, channel_id: str) -> Channel:
    channel = state.channels.get(channel_id)
    if channel is None or (channel.is_private and state.identity.bot_user_id not in channel.members):
        raise SlackError("channel_not_found")
    return channel


def require_member(state: State, channel: Channel) -> None:
    if state.identity.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")


def existing_message(state: State, channel: Channel, ts: str) -> Message:
    message = state.find_message(channel, ts) if ts else None
    if message is None:
        raise SlackError("message_not_found")
    return message


def message_json(state: State, channel: Channel, message: Message) -> dict[str, Any]:
    """A message as conversations.history shows it, with the thread summary on a parent."""
    body = message.to_slack(state.identity.team_id, state.identity.app_id)
    replies = [m for m in channel.messages if m.is_reply and m.thread_ts == message.ts]
    if replies:
        users = list(dict.fromkeys(m.user for m in replies))
        body |= {
            "reply_count": len(replies),
            "reply_users": users,
            "reply_users_count": len(users),
            "latest_reply": replies[-1].ts,
        }
    return body
