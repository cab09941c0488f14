"""The sandbox workspace as tests and tools see it: one lock, read helpers, fault injection, minted tokens.

Every read returns a deep copy taken under the lock, so a test can inspect what landed while the
server thread keeps serving the bot. The Web API handlers work on `state` (live objects) while
holding `lock`; nothing else should.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.methods.views import apply_submission_response
from bot.sandbox.models import Call, Canvas, Channel, Ephemeral, File, Identity, Message, User, UserGroup, View
from bot.sandbox.respond import deliver
from bot.sandbox.state import ResponseTarget, State

__all__ = ["Call", "Canvas", "Channel", "Ephemeral", "Fault", "File", "Message", "User", "View", "Workspace"]


@dataclass
class Fault:
    """A canned failure for the next `remaining` calls of one method (HTTP status, Slack error, Retry-After)."""

    method: str
    status: int
    retry_after: int
    error: str
    remaining: int


class Workspace:
    """Thread-safe facade over `State`; `seed` fills a fresh state at construction and on `reset()`."""

    def __init__(
        self,
        *,
        identity: Identity | None = None,
        seed: Callable[[State], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = identity or Identity()
        self.lock = threading.RLock()
        self.latency_ms = 0
        self.base_url: str | None = None
        self._seed = seed
        self._clock = clock
        self._faults: list[Fault] = []
        self._hung: frozenset[str] | None = None
        self._rate_clock: Callable[[], float] = time.monotonic
        self.state = self._fresh_state()

    def _fresh_state(self) -> State:
        state = State(self.identity, self._clock)
        if self._seed:
            self._seed(state)
        return state

    def reset(self) -> None:
        """Back to the seeded workspace: messages, views, calls, faults and latency all cleared."""
        with self.lock:
            self.state = self._fresh_state()
            self._faults.clear()
            self.latency_ms = 0
            self._hung = None

    # Fault injection

    def fail_next(
        self, method: str, *, status: int = 429, retry_after: int = 1, error: str = "ratelimited", count: int = 1
    ) -> None:
        with self.lock:
            self._faults.append(Fault(method, status, retry_after, error, count))

    def clear_faults(self) -> None:
        """Slack well again: injected failures end (rate limits set with ``rate_limit`` stay)."""
        with self.lock:
            self._faults.clear()

    def hang(self, *methods: str) -> None:
        """Slack that accepts a request and never answers: calls of ``methods`` (every method when
        none is named) wait until ``release()``, and then answer 503 without having done anything."""
        with self.lock:
            self._hung = frozenset(methods)

    def release(self) -> None:
        with self.lock:
            self._hung = None

    def hanging(self, method: str) -> bool:
        with self.lock:
            return self._hung is not None and (not self._hung or method in self._hung)

    def take_fault(self, method: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.method == method:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def rate_limit(self, method: str, per_minute: int | None, *, clock: Callable[[], float] | None = None) -> None:
        """Allow ``method`` this many calls a minute (None: no limit), as Slack's tiers do: since 2025,
        apps outside the Marketplace get one ``conversations.history`` / ``.replies`` a minute.
        ``clock`` (seconds) is the minute's measure: a test's injected clock, or the real one."""
        with self.lock:
            if per_minute is None:
                self.state.rate_limits.pop(method, None)
            else:
                self.state.rate_limits[method] = per_minute
            self._rate_clock = clock or time.monotonic

    def over_rate_limit(self, method: str) -> int | None:
        """Seconds to wait (Slack's ``Retry-After``) when this call is one too many; None otherwise."""
        with self.lock:
            allowed = self.state.rate_limits.get(method)
            if allowed is None:
                return None
            now = self._rate_clock()
            recent = [t for t in self.state.recent_calls.get(method, []) if now - t < 60]
            if len(recent) >= allowed:
                self.state.recent_calls[method] = recent
                return max(1, math.ceil(60 - (now - recent[0])))
            self.state.recent_calls[method] = [*recent, now]
            return None

    def disable_canvases(self) -> None:
        """A workspace whose plan has no canvases."""
        with self.lock:
            self.state.canvases_enabled = False

    def receive_upload(self, file_id: str, content: bytes) -> bool:
        """The bytes POSTed to an upload URL; False for a URL no ``files.getUploadURLExternal`` gave."""
        with self.lock:
            file = self.state.files.get(file_id)
            if file is None or file.completed:
                return False
            file.content = content
            return True

    def record_call(self, method: str, args: dict[str, Any]) -> None:
        with self.lock:
            self.state.calls.append(Call(method, args, time.time()))

    # Tokens Slack hands to the bot

    def mint_trigger_id(self, user_id: str) -> str:
        """A trigger_id for `user_id`: single use, valid for 3 s on this workspace's monotonic clock."""
        with self.lock:
            return self.state.mint_trigger(user_id)

    def mint_response_url(
        self, channel_id: str, user_id: str, *, message_ts: str | None = None, is_ephemeral: bool = False
    ) -> str:
        """A response_url on this server; `message_ts` names the clicked message that replace_original edits."""
        if self.base_url is None:
            raise RuntimeError("the workspace is not served yet: start a SandboxServer first")
        with self.lock:
            token = self.state.mint_response_target(
                channel_id, user_id, message_ts=message_ts, is_ephemeral=is_ephemeral
            )
        return f"{self.base_url}/_sandbox/respond/{token}"

    # What the Slack client does with the bot's answers to the requests the simulator sends

    def show_ack(self, channel_id: str, user_id: str, body: dict[str, Any]) -> None:
        """A slash command's ack body, shown as Slack shows it; SlackError when Slack would refuse it."""
        with self.lock:
            deliver(self.state, ResponseTarget(channel_id, user_id, expires_at=math.inf), body, "ack")

    def apply_view_response(self, view_id: str, response: dict[str, Any] | None) -> None:
        """The bot's answer to a view_submission (``response_action``); SlackError when Slack would refuse it."""
        with self.lock:
            apply_submission_response(self.state, view_id, response)

    def close_view(self, view_id: str) -> None:
        """The user dismissed the modal."""
        with self.lock:
            self.state.views[view_id].closed = True

    # Setup helpers for tests

    def add_channel(self, name: str, *, is_private: bool = False, members: Iterable[str] = ()) -> Channel:
        with self.lock:
            return copy.deepcopy(self.state.add_channel(name, is_private=is_private, members=members))

    def post_as(self, user_id: str, channel_id: str, text: str, thread_ts: str | None = None) -> Message:
        """A human's message, as if typed in the Slack client (no event is delivered to the bot)."""
        with self.lock:
            channel = self.state.channels[channel_id]
            return copy.deepcopy(self.state.post(channel, user_id, text, [], thread_ts))

    # What people do in the Slack client (events are delivered by the simulator)

    def next_ts(self) -> str:
        """A timestamp as Slack stamps events (after every message so far)."""
        with self.lock:
            return self.state.next_ts()

    def edit_as(self, channel_id: str, ts: str, text: str) -> tuple[Message, Message]:
        with self.lock:
            before, after = self.state.edit_message(self.state.channels[channel_id], ts, text)
            return copy.deepcopy(before), copy.deepcopy(after)

    def delete_as(self, channel_id: str, ts: str) -> Message:
        with self.lock:
            return copy.deepcopy(self.state.delete_message(self.state.channels[channel_id], ts))

    def react_as(self, user_id: str, channel_id: str, ts: str, name: str, *, add: bool = True) -> Message:
        """Add (or take off) ``user_id``'s reaction; SlackError as the client would refuse it."""
        with self.lock:
            message = self.state.find_message(self.state.channels[channel_id], ts)
            if message is None:
                raise SlackError("message_not_found")
            users = message.reactions.setdefault(name, [])
            if add == (user_id in users):
                raise SlackError("already_reacted" if add else "no_reaction")
            users.append(user_id) if add else users.remove(user_id)
            if not users:
                del message.reactions[name]
            return copy.deepcopy(message)

    # Reads

    def canvas(self, canvas_id: str) -> Canvas | None:
        with self.lock:
            return copy.deepcopy(self.state.canvases.get(canvas_id))

    def channel_canvas(self, channel_id: str) -> Canvas | None:
        with self.lock:
            return copy.deepcopy(self.state.channel_canvas(channel_id))

    def files_in(self, channel_id: str) -> list[File]:
        """Files shared in a channel, oldest first."""
        with self.lock:
            return copy.deepcopy([f for f in self.state.files.values() if channel_id in f.channels])

    @property
    def users(self) -> list[User]:
        with self.lock:
            return copy.deepcopy(list(self.state.users.values()))

    def user(self, user_id: str) -> User | None:
        with self.lock:
            return copy.deepcopy(self.state.users.get(user_id))

    def user_by_name(self, name: str) -> User | None:
        with self.lock:
            found = next((u for u in self.state.users.values() if u.name == name.removeprefix("@")), None)
            return copy.deepcopy(found)

    @property
    def usergroups(self) -> list[UserGroup]:
        with self.lock:
            return copy.deepcopy(list(self.state.usergroups.values()))

    def usergroup_by_handle(self, handle: str) -> UserGroup | None:
        with self.lock:
            found = next((g for g in self.state.usergroups.values() if g.handle == handle.removeprefix("@")), None)
            return copy.deepcopy(found)

    def edit_usergroup(self, handle: str, users: list[str]) -> None:
        """A person changing a group's members by hand in Slack (what an on-call group must survive)."""
        with self.lock:
            group = next(g for g in self.state.usergroups.values() if g.handle == handle.removeprefix("@"))
            group.users = list(users)

    @property
    def channels(self) -> list[Channel]:
        with self.lock:
            return copy.deepcopy(list(self.state.channels.values()))

    def channel(self, channel_id: str) -> Channel | None:
        with self.lock:
            return copy.deepcopy(self.state.channels.get(channel_id))

    def channel_by_name(self, name: str) -> Channel | None:
        with self.lock:
            found = self.state.resolve_channel("#" + name.removeprefix("#"))
            return copy.deepcopy(found)

    def messages(self, channel_id: str, include_threads: bool = True) -> list[Message]:
        """Messages in posting order; thread replies too unless `include_threads` is false."""
        with self.lock:
            channel = self.state.channels.get(channel_id)
            found = [m for m in channel.messages if include_threads or not m.is_reply] if channel else []
            return copy.deepcopy(found)

    def thread(self, channel_id: str, ts: str) -> list[Message]:
        """The parent message followed by its replies."""
        with self.lock:
            channel = self.state.channels.get(channel_id)
            found = [m for m in channel.messages if ts in (m.ts, m.thread_ts)] if channel else []
            return copy.deepcopy(found)

    def pinned_messages(self, channel_id: str) -> list[Message]:
        with self.lock:
            channel = self.state.channels.get(channel_id)
            found = [m for m in channel.messages if m.ts in channel.pins] if channel else []
            return copy.deepcopy(found)

    def dms_to(self, user_id: str) -> list[Message]:
        """What the bot posted in its direct-message channel with `user_id`."""
        with self.lock:
            found = [
                m
                for c in self.state.channels.values()
                if c.is_im and c.im_user == user_id
                for m in c.messages
                if m.user == self.identity.bot_user_id
            ]
            return copy.deepcopy(found)

    def ephemerals(self, user_id: str, channel_id: str | None = None) -> list[Ephemeral]:
        with self.lock:
            found = [e for e in self.state.ephemerals if e.user == user_id and channel_id in (None, e.channel)]
            return copy.deepcopy(found)

    @property
    def views(self) -> list[View]:
        with self.lock:
            return copy.deepcopy(list(self.state.views.values()))

    def view(self, view_id: str) -> View | None:
        with self.lock:
            return copy.deepcopy(self.state.views.get(view_id))

    def home(self, user_id: str) -> View | None:
        """The Home tab the app published for the user (``views.publish``), if any."""
        with self.lock:
            found = next((v for v in self.state.views.values() if v.user == user_id and v.type == "home"), None)
            return copy.deepcopy(found)

    def open_views(self, user_id: str) -> list[View]:
        """The user's open modals, bottom of the stack first."""
        with self.lock:
            found = [v for v in self.state.views.values() if v.user == user_id and v.type == "modal" and not v.closed]
            return copy.deepcopy(found)

    @property
    def calls(self) -> list[Call]:
        with self.lock:
            return copy.deepcopy(self.state.calls)

    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return copy.deepcopy([c for c in self.state.calls if c.method == method])

    def snapshot(self) -> dict[str, Any]:
        """Everything a test or an out-of-process tool may want to read, as plain JSON types."""
        with self.lock:
            state = self.state
            return _jsonable(
                {
                    "team": dataclasses.asdict(self.identity),
                    "users": [dataclasses.asdict(u) for u in state.users.values()],
                    "usergroups": [dataclasses.asdict(g) for g in state.usergroups.values()],
                    "channels": [dataclasses.asdict(c) for c in state.channels.values()],
                    "ephemerals": [dataclasses.asdict(e) for e in state.ephemerals],
                    "views": [dataclasses.asdict(v) for v in state.views.values()],
                    "canvases": [dataclasses.asdict(c) for c in state.canvases.values()],
                    "files": [{k: v for k, v in dataclasses.asdict(f).items() if k != "content"}
                              for f in state.files.values()],
                    "calls": [dataclasses.asdict(c) for c in state.calls],
                    "latency_ms": self.latency_ms,
                }
            )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, set):
        return sorted(_jsonable(v) for v in value)
    return value
