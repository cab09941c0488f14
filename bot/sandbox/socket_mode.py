"""Socket Mode: `apps.connections.open` tickets, the app's WebSocket connections, and envelopes.

Slack's protocol: the app calls `apps.connections.open` with its app-level token (`xapp-…`),
connects to the returned URL, receives `hello`, then gets envelopes
`{envelope_id, type, payload, accepts_response_payload}` and acknowledges each with
`{envelope_id, payload?}`. Each envelope goes to one of the app's open connections.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import threading
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from bot.sandbox.workspace import Workspace

ACK_TIMEOUT_S = 3.0
MAX_CONNECTIONS = 10


class NoConnection(Exception):
    """No Socket Mode connection is open: Slack would have nowhere to deliver."""


class SocketHub:
    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._turn = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._sockets)

    def open_connection(self, token: str | None) -> dict[str, Any]:
        """The body of `apps.connections.open` for this token."""
        identity = self._workspace.identity
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token.startswith(("xoxb-", "xoxp-")):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != identity.app_token:
            return {"ok": False, "error": "invalid_auth"}
        ticket = secrets.token_urlsafe(16)
        with self._lock:
            self._tickets.add(ticket)
        base = (self._workspace.base_url or "").replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{base}/_sandbox/socket?ticket={ticket}"}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            valid = ticket in self._tickets and len(self._sockets) < MAX_CONNECTIONS
            self._tickets.discard(ticket)
        if not valid:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._loop = asyncio.get_running_loop()
        with self._lock:
            self._sockets.append(ws)
            count = len(self._sockets)
        identity = self._workspace.identity
        await ws.send_json({"type": "hello", "num_connections": count,
                            "debug_info": {"host": "sandbox", "approximate_connection_time": 18060},
                            "connection_info": {"app_id": identity.app_id}})
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._acknowledged(message.data)
        finally:
            with self._lock:
                self._sockets.remove(ws)
        return ws

    def _acknowledged(self, raw: str) -> None:
        try:
            data = json.loads(raw)
        except ValueError:
            return
        future = self._pending.pop(str(data.get("envelope_id", "")), None) if isinstance(data, dict) else None
        if future is not None and not future.done():
            future.set_result(data.get("payload") or {})

    def deliver(self, kind: str, payload: dict[str, Any], *, timeout: float = ACK_TIMEOUT_S) -> dict[str, Any] | None:
        """Send one envelope from any thread; the ack's payload, or None when no ack came in time."""
        with self._lock:
            sockets = list(self._sockets)
        if not sockets or self._loop is None:
            raise NoConnection("no Socket Mode connection is open")
        socket = sockets[next(self._turn) % len(sockets)]
        future = asyncio.run_coroutine_threadsafe(self._send(socket, kind, payload, timeout), self._loop)
        return future.result(timeout + 1)

    async def _send(self, socket: web.WebSocketResponse, kind: str, payload: dict[str, Any],
                    timeout: float) -> dict[str, Any] | None:
        envelope_id = str(uuid.uuid4())
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = waiter
        await socket.send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                "accepts_response_payload": kind != "events_api",
                                "retry_attempt": 0, "retry_reason": ""})
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            self._pending.pop(envelope_id, None)
