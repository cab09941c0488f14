"""The `/api/<method>` endpoint: parse like Slack, record the call, simulate the network, then dispatch.

Order per request: record the call, sleep `latency_ms`, hang while the method is hung (then 503,
nothing done), serve an injected fault (429 with Retry-After, or a 5xx), check the bearer token,
run the method under the workspace lock. Every
answer but a fault is HTTP 200 with `ok` true or false, as Slack does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from bot.sandbox.errors import SlackError
from bot.sandbox.methods import METHODS
from bot.sandbox.methods.args import Args
from bot.sandbox.socket_mode import SocketHub
from bot.sandbox.workspace import Fault, Workspace

WORKSPACE = web.AppKey("workspace", Workspace)
SOCKETS = web.AppKey("sockets", SocketHub)


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string plus body, whether the body is JSON, form-encoded or multipart; ValueError on bad JSON."""
    params: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("a JSON body must be an object")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _token(request: web.Request, params: dict[str, Any]) -> str | None:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else params.get("token")


def _auth_error(workspace: Workspace, request: web.Request, params: dict[str, Any]) -> str | None:
    token = _token(request, params)
    if not token:
        return "not_authed"
    return None if token == workspace.identity.token else "invalid_auth"


def _fault_response(fault: Fault) -> web.Response:
    headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
    return web.json_response({"ok": False, "error": fault.error}, status=fault.status, headers=headers)


async def handle_api(request: web.Request) -> web.Response:
    workspace = request.app[WORKSPACE]
    method = request.match_info["method"]
    try:
        params = await read_params(request)
    except ValueError:
        workspace.record_call(method, {})
        return web.json_response({"ok": False, "error": "invalid_json"})
    workspace.record_call(method, {k: v for k, v in params.items() if k != "token"})
    if workspace.latency_ms > 0:
        await asyncio.sleep(workspace.latency_ms / 1000)
    if workspace.hanging(method):
        while workspace.hanging(method):
            await asyncio.sleep(0.05)
        return _fault_response(Fault(method, 503, 0, "service_unavailable", 0))
    fault = workspace.take_fault(method)
    if fault is not None:
        return _fault_response(fault)
    wait = workspace.over_rate_limit(method)
    if wait is not None:
        return _fault_response(Fault(method, 429, wait, "ratelimited", 0))
    if method == "apps.connections.open":  # the one method that takes the app-level token
        return web.json_response(request.app[SOCKETS].open_connection(_token(request, params)))
    auth_error = _auth_error(workspace, request, params)
    if auth_error:
        return web.json_response({"ok": False, "error": auth_error})
    handler = METHODS.get(method)
    if handler is None:
        return web.json_response({"ok": False, "error": "unknown_method", "req_method": method})
    with workspace.lock:
        workspace.state.base_url = workspace.base_url
        try:
            body = handler(workspace.state, Args(params))
        except SlackError as error:
            body = error.body()
    return web.json_response(body)
