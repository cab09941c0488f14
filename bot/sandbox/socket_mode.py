"""Socket Mode: `apps.connections.open` tickets, the app's WebSocket connections, and envelopes.

Slack's protocol: the app calls `apps.connections.open` with its app-level token (`xapp-…`),
connects to the returned single-use URL and receives `hello`; Slack then sends envelopes
`{envelope_id, type, payload, accepts_response_payload, retry_attempt, retry_reason}`, each to
one of the app's open connections (at most 10), and the app acknowledges each with
`{envelope_id, payload?}`. `disconnect` asks the app to reconnect on a fresh URL. Pings are
answered by aiohttp, as Slack answers the SDK's keep-alive pings.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import threading
import uuid
from typing import Any, Literal

from aiohttp import WSMsgType, web

from bot.sandbox.workspace import Workspace

ACK_TIMEOUT_S = 3.0
MAX_CONNECTIONS = 10
HOST = "applink-sandbox"

EnvelopeType = Literal["slash_commands", "interactive", "events_api"]


class NoConnection(Exception):
    """No Socket Mode connection is open: Slack would have nowhere to deliver the envelope."""


class SocketHub:
    """The app's live connections. `deliver` and `disconnect` are called from other threads (tests,
    the console) and run on the server's event loop; everything else runs on that loop."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._opened = 0
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._turn = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def connections(self) -> int:
        """Connections open now."""
        with self._lock:
            return len(self._sockets)

    @property
    def opened(self) -> int:
        """Connections accepted so far, so a test can tell a reconnection from the old connection."""
        with self._lock:
            return self._opened

    def open_connection(self, token: str | None) -> dict[str, Any]:
        """The body of `apps.connections.open`: only the app-level token may open a connection."""
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token.startswith(("xoxb-", "xoxp-")):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self._workspace.identity.app_token:
            return {"ok": False, "error": "invalid_auth"}
        ticket = secrets.token_urlsafe(16)
        with self._lock:
            self._tickets.add(ticket)
        base = (self._workspace.base_url or "").replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{base}/_sandbox/socket?ticket={ticket}"}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """`GET /_sandbox/socket?ticket=…`: the WebSocket for one connection, until the app closes it."""
        ticket = request.query.get("ticket", "")
        with self._lock:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)
        if not valid:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._loop = asyncio.get_running_loop()
        with self._lock:
            count = len(self._sockets) + 1
            accepted = count <= MAX_CONNECTIONS
            if accepted:
                self._sockets.append(ws)
                self._opened += 1
        if not accepted:  # Slack accepts the socket, then turns it away
            await ws.send_json(_disconnect("too_many_websockets"))
            await ws.close()
            return ws
        await ws.send_json({"type": "hello", "num_connections": count,
                            "debug_info": {"host": HOST, "approximate_connection_time": 18060},
                            "connection_info": {"app_id": self._workspace.identity.app_id}})
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._acknowledged(message.data)
        finally:
            with self._lock:
                self._sockets.remove(ws)
        return ws

    def deliver(self, kind: EnvelopeType, payload: dict[str, Any], *, retry_attempt: int = 0,
                retry_reason: str = "", timeout: float = ACK_TIMEOUT_S) -> dict[str, Any] | None:
        """Send one envelope to one open connection and wait for its ack.

        Returns the ack's payload (`{}` for a bare ack), or None when no ack came within `timeout`.
        Blocks the calling thread, so never call it on the server's own loop.
        """
        envelope = {"envelope_id": str(uuid.uuid4()), "type": kind, "payload": payload,
                    "accepts_response_payload": _accepts_response_payload(kind, payload),
                    "retry_attempt": retry_attempt, "retry_reason": retry_reason}
        socket = self._next_socket()
        sent = asyncio.run_coroutine_threadsafe(self._send(socket, envelope, timeout), self._running_loop())
        return sent.result(timeout + 5)  # the extra covers sending; the ack wait is in _send

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every open connection to reconnect, as Slack does when it refreshes its servers."""
        with self._lock:
            sockets = list(self._sockets)
        if not sockets:
            raise NoConnection("no Socket Mode connection is open")

        async def tell_all() -> None:
            for ws in sockets:
                await ws.send_json(_disconnect(reason))

        asyncio.run_coroutine_threadsafe(tell_all(), self._running_loop()).result()

    def _next_socket(self) -> web.WebSocketResponse:
        with self._lock:
            sockets = [ws for ws in self._sockets if not ws.closed]
        if not sockets:
            raise NoConnection("no Socket Mode connection is open: is the bot running with --socket-mode?")
        return sockets[next(self._turn) % len(sockets)]

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            raise NoConnection("the sandbox server that held the connections has stopped")
        return self._loop

    async def _send(self, ws: web.WebSocketResponse, envelope: dict[str, Any],
                    timeout: float) -> dict[str, Any] | None:
        envelope_id = envelope["envelope_id"]
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = waiter
        try:
            await ws.send_json(envelope)
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            self._pending.pop(envelope_id, None)

    def _acknowledged(self, raw: str) -> None:
        try:
            ack = json.loads(raw)
        except ValueError:
            return
        if not isinstance(ack, dict):
            return
        waiter = self._pending.pop(str(ack.get("envelope_id", "")), None)
        if waiter is not None and not waiter.done():
            payload = ack.get("payload")
            waiter.set_result(payload if isinstance(payload, dict) else {})


def _accepts_response_payload(kind: EnvelopeType, payload: dict[str, Any]) -> bool:
    """Slack reads an ack's payload only where HTTP mode would read the response body."""
    return kind == "slash_commands" or payload.get("type") == "view_submission"


def _disconnect(reason: str) -> dict[str, Any]:
    return {"type": "disconnect", "reason": reason, "debug_info": {"host": HOST}}
