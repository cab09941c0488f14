"""The sandbox workspace of another process (``opsbot sandbox --no-console``), read and driven
through its ``/_sandbox`` control endpoints, so the simulator sends that bot the same signed
requests it sends a bot in this process:

    sandbox = RemoteSandbox("http://127.0.0.1:3001")
    slack = SlackSimulator("http://127.0.0.1:3000", sandbox.workspace.identity.signing_secret, sandbox)

Every read fetches the workspace's snapshot afresh (the other process keeps changing it) and
rebuilds the sandbox's own model objects from it, so callers read them as they read ``Workspace``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from functools import cached_property
from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.models import Bookmark, Channel, Ephemeral, Identity, Message, User, View


class RemoteWorkspace:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    # Reads

    def snapshot(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/_sandbox/state", timeout=self.timeout) as reply:
            return json.loads(reply.read())

    @cached_property
    def identity(self) -> Identity:
        return Identity(**self.snapshot()["team"])

    @property
    def users(self) -> list[User]:
        return [User(**u) for u in self.snapshot()["users"]]

    def user(self, user_id: str) -> User | None:
        return next((u for u in self.users if u.id == user_id), None)

    def user_by_name(self, name: str) -> User | None:
        return next((u for u in self.users if u.name == name.removeprefix("@")), None)

    @property
    def channels(self) -> list[Channel]:
        return [_channel(c) for c in self.snapshot()["channels"]]

    def channel(self, channel_id: str) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def channel_by_name(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name.removeprefix("#") and not c.is_im), None)

    def messages(self, channel_id: str) -> list[Message]:
        """Messages in posting order, thread replies included."""
        channel = self.channel(channel_id)
        return channel.messages if channel else []

    def ephemerals(self, user_id: str, channel_id: str | None = None) -> list[Ephemeral]:
        return [e for e in (Ephemeral(**e) for e in self.snapshot()["ephemerals"])
                if e.user == user_id and channel_id in (None, e.channel)]

    def view(self, view_id: str) -> View | None:
        return next((v for v in (View(**v) for v in self.snapshot()["views"]) if v.id == view_id), None)

    def home(self, user_id: str) -> View | None:
        return next((v for v in (View(**v) for v in self.snapshot()["views"])
                     if v.user == user_id and v.type == "home"), None)

    # Tokens Slack hands to the bot

    def mint_trigger_id(self, user_id: str) -> str:
        return str(self._post("/_sandbox/trigger", {"user_id": user_id})["trigger_id"])

    def mint_response_url(self, channel_id: str, user_id: str, *, message_ts: str | None = None,
                          is_ephemeral: bool = False) -> str:
        body: dict[str, Any] = {"channel_id": channel_id, "user_id": user_id, "is_ephemeral": is_ephemeral}
        if message_ts:
            body["message_ts"] = message_ts
        return str(self._post("/_sandbox/response_url", body)["response_url"])

    # What the Slack client does with the bot's answers

    def show_ack(self, channel_id: str, user_id: str, body: dict[str, Any]) -> None:
        self._post("/_sandbox/ack", {"channel_id": channel_id, "user_id": user_id, "body": body})

    def apply_view_response(self, view_id: str, response: dict[str, Any] | None) -> None:
        self._post(f"/_sandbox/views/{view_id}/response", {"response": response})

    def close_view(self, view_id: str) -> None:
        self._post(f"/_sandbox/views/{view_id}/close", {})

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.base_url}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", errors="replace")
            try:
                answer = json.loads(text)
            except ValueError:
                answer = None
            if isinstance(answer, dict) and answer.get("error"):  # what Slack would refuse
                extra = {k: v for k, v in answer.items() if k not in ("ok", "error")}
                raise SlackError(str(answer["error"]), **extra) from None
            raise RuntimeError(f"the sandbox answered {path} with HTTP {error.code}: {text[:200]}") from None


class RemoteSandbox:
    """What the simulator needs of a sandbox server, for one running in another process (HTTP
    transport only: its Socket Mode hub is not reachable from here)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.workspace = RemoteWorkspace(self.base_url, timeout=timeout)


def _channel(data: dict[str, Any]) -> Channel:
    return Channel(**{**data, "members": set(data["members"]), "messages": [Message(**m) for m in data["messages"]],
                      "bookmarks": [Bookmark(**b) for b in data["bookmarks"]]})
