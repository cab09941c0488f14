"""The live workspace: users, channels, messages, views, and the short-lived tokens Slack hands out.

`State` is deliberately not thread-safe and returns live objects: the Web API handlers and the
`Workspace` facade call it while holding the workspace lock. Rules that are Slack's (who may post
where, name formats) live in the method handlers; this module only keeps the books.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.models import (
    Call,
    Canvas,
    Channel,
    Ephemeral,
    File,
    Identity,
    Message,
    User,
    UserGroup,
    View,
)

TRIGGER_TTL_S = 3.0
RESPONSE_URL_TTL_S = 30 * 60.0
RESPONSE_URL_MAX_POSTS = 5


@dataclass
class Trigger:
    user_id: str
    expires_at: float
    used: bool = False


@dataclass
class ResponseTarget:
    """Where posts to one response_url land: the invoking user and channel, and the clicked message if any."""

    channel: str
    user: str
    expires_at: float
    message_ts: str | None = None
    is_ephemeral: bool = False
    posts: int = 0


class State:
    """Every mutable thing in the sandbox workspace. Callers hold the workspace lock."""

    def __init__(self, identity: Identity, clock: Callable[[], float]) -> None:
        self.identity = identity
        self.clock = clock
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, UserGroup] = {}
        self.channels: dict[str, Channel] = {}
        self.views: dict[str, View] = {}
        self.ephemerals: list[Ephemeral] = []
        self.calls: list[Call] = []
        self.triggers: dict[str, Trigger] = {}
        self.response_targets: dict[str, ResponseTarget] = {}
        self.canvases: dict[str, Canvas] = {}
        self.files: dict[str, File] = {}
        self.canvases_enabled = True
        """False: the workspace's plan has no canvases (``team_tier_cannot_create_channel_canvases``)."""
        self.rate_limits: dict[str, int] = {}
        """Calls a minute a method allows this app (e.g. Tier 1's one history read); others unlimited."""
        self.recent_calls: dict[str, list[float]] = {}
        self.base_url: str | None = None  # where upload URLs point (the server's address)
        self._ids = itertools.count(1)
        self._last_ts_us = 0
        self.users[identity.bot_user_id] = User(
            identity.bot_user_id, identity.bot_name, identity.bot_name, is_bot=True, bot_id=identity.bot_id
        )

    def new_id(self, prefix: str) -> str:
        """Slack-looking ids; generated ones start with "1" so they never clash with seeded "…0NAME" ids."""
        return f"{prefix}1{next(self._ids):08X}"

    def next_ts(self) -> str:
        """A message timestamp from the wall clock, strictly increasing like Slack's."""
        now_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = now_us
        return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    # Channels and messages

    def add_channel(
        self,
        name: str,
        *,
        is_private: bool = False,
        members: Iterable[str] = (),
        creator: str = "",
        channel_id: str | None = None,
    ) -> Channel:
        channel = Channel(
            id=channel_id or self.new_id("C"),
            name=name,
            is_private=is_private,
            is_im=False,
            topic="",
            members=set(members),
            messages=[],
            pins=[],
            bookmarks=[],
            created=int(time.time()),
            creator=creator,
        )
        self.channels[channel.id] = channel
        return channel

    def resolve_channel(self, ref: str) -> Channel | None:
        """A channel by id, or by name with or without '#', as chat.postMessage accepts."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        return next((c for c in self.channels.values() if not c.is_im and c.name == name), None)

    def im_with(self, user_id: str) -> Channel:
        """The bot's direct-message channel with a user, opened on first use."""
        for channel in self.channels.values():
            if channel.is_im and channel.im_user == user_id:
                return channel
        channel = Channel(
            id=self.new_id("D"),
            name=user_id,
            is_private=True,
            is_im=True,
            topic="",
            members={self.identity.bot_user_id, user_id},
            messages=[],
            pins=[],
            bookmarks=[],
            created=int(time.time()),
            im_user=user_id,
        )
        self.channels[channel.id] = channel
        return channel

    def post(
        self,
        channel: Channel,
        user: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None = None,
    ) -> Message:
        """Append a message; a reply marks its parent as a thread parent (thread_ts == ts), as Slack does."""
        parent = self.find_message(channel, thread_ts) if thread_ts else None
        if parent is not None and parent.thread_ts is None:
            parent.thread_ts = parent.ts
        bot_id = self.identity.bot_id if user == self.identity.bot_user_id else None
        message = Message(self.next_ts(), channel.id, user, text, blocks, thread_ts, bot_id=bot_id)
        channel.messages.append(message)
        return message

    def edit_message(self, channel: Channel, ts: str, text: str) -> tuple[Message, Message]:
        """A person edits their message: (the message before, the message now)."""
        message = self.find_message(channel, ts)
        if message is None:
            raise SlackError("message_not_found")
        before = Message(**{**message.__dict__, "reactions": dict(message.reactions)})
        message.text, message.edited = text, True
        return before, message

    def delete_message(self, channel: Channel, ts: str) -> Message:
        message = self.find_message(channel, ts)
        if message is None:
            raise SlackError("message_not_found")
        channel.messages.remove(message)
        channel.pins = [p for p in channel.pins if p != ts]
        return message

    def channel_canvas(self, channel_id: str) -> Canvas | None:
        return next((c for c in self.canvases.values() if c.channel_id == channel_id), None)

    def find_message(self, channel: Channel, ts: str) -> Message | None:
        return next((m for m in channel.messages if m.ts == ts), None)

    def add_ephemeral(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        blocks: list[dict[str, Any]],
        via: str,
        thread_ts: str | None = None,
    ) -> Ephemeral:
        ephemeral = Ephemeral(channel_id, user_id, text, blocks, via, self.next_ts(), thread_ts)
        self.ephemerals.append(ephemeral)
        return ephemeral

    # Short-lived tokens

    def mint_trigger(self, user_id: str) -> str:
        trigger_id = f"{next(self._ids)}.{int(time.time())}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = Trigger(user_id, self.clock() + TRIGGER_TTL_S)
        return trigger_id

    def consume_trigger(self, trigger_id: str) -> str:
        """The user a trigger_id belongs to; Slack's errors when it is unknown, used or older than 3 s."""
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.clock() > trigger.expires_at:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger.user_id

    def mint_response_target(
        self, channel_id: str, user_id: str, *, message_ts: str | None = None, is_ephemeral: bool = False
    ) -> str:
        token = secrets.token_urlsafe(18)
        self.response_targets[token] = ResponseTarget(
            channel_id, user_id, self.clock() + RESPONSE_URL_TTL_S, message_ts, is_ephemeral
        )
        return token

    # Views

    def new_hash(self) -> str:
        return f"{int(time.time())}.{secrets.token_hex(4)}"

    def open_view(
        self, user_id: str, payload: dict[str, Any], trigger_id: str | None, previous: View | None = None
    ) -> View:
        view_id = self.new_id("V")
        view = View(
            id=view_id,
            user=user_id,
            trigger_id=trigger_id,
            view=payload,
            hash=self.new_hash(),
            root_view_id=previous.root_view_id if previous else view_id,
            previous_view_id=previous.id if previous else None,
        )
        self.views[view_id] = view
        return view

    def modal_stack(self, root_view_id: str) -> list[View]:
        """The open modal views sharing a root, bottom first."""
        return [v for v in self.views.values() if v.root_view_id == root_view_id and not v.closed and v.type == "modal"]

    def top_modal(self, user_id: str) -> View | None:
        open_views = [v for v in self.views.values() if v.user == user_id and not v.closed and v.type == "modal"]
        return open_views[-1] if open_views else None
