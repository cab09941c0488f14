"""`/_sandbox/*`: the Slack side a test or tool drives from outside the process.

Read the workspace, mint trigger ids and response URLs, receive response_url posts, inject faults
and latency, reset. Bodies are JSON (form-encoded also accepted); answers are JSON.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.sandbox.api import WORKSPACE, read_params
from bot.sandbox.errors import SlackError
from bot.sandbox.methods.args import Args
from bot.sandbox.respond import post_to_response_url


async def _args(request: web.Request) -> Args:
    try:
        return Args(await read_params(request))
    except ValueError as error:
        raise web.HTTPBadRequest(text=str(error)) from None


def _required(args: Args, name: str) -> str:
    if name not in args:
        raise web.HTTPBadRequest(text=f"{name} is required")
    return args.text(name)


def _number(args: Args, name: str, default: int) -> int:
    try:
        return args.number(name, default)
    except SlackError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None


async def state(request: web.Request) -> web.Response:
    return web.json_response(request.app[WORKSPACE].snapshot())


async def trigger(request: web.Request) -> web.Response:
    args = await _args(request)
    return web.json_response({"trigger_id": request.app[WORKSPACE].mint_trigger_id(_required(args, "user_id"))})


async def response_url(request: web.Request) -> web.Response:
    args = await _args(request)
    url = request.app[WORKSPACE].mint_response_url(
        _required(args, "channel_id"),
        _required(args, "user_id"),
        message_ts=args.text("message_ts") or None,
        is_ephemeral=args.flag("is_ephemeral"),
    )
    return web.json_response({"response_url": url})


async def respond(request: web.Request) -> web.Response:
    workspace = request.app[WORKSPACE]
    try:
        body: Any = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
    with workspace.lock:
        status, answer = post_to_response_url(workspace.state, request.match_info["token"], body)
    return web.json_response(answer, status=status)


async def fail(request: web.Request) -> web.Response:
    args = await _args(request)
    request.app[WORKSPACE].fail_next(
        _required(args, "method"),
        status=_number(args, "status", 429),
        retry_after=_number(args, "retry_after", 1),
        error=args.text("error", "ratelimited"),
        count=_number(args, "count", 1),
    )
    return web.json_response({"ok": True})


async def latency(request: web.Request) -> web.Response:
    args = await _args(request)
    request.app[WORKSPACE].latency_ms = _number(args, "latency_ms", 0)
    return web.json_response({"ok": True})


async def reset(request: web.Request) -> web.Response:
    request.app[WORKSPACE].reset()
    return web.json_response({"ok": True})


ROUTES = [
    web.get("/_sandbox/state", state),
    web.post("/_sandbox/trigger", trigger),
    web.post("/_sandbox/response_url", response_url),
    web.post("/_sandbox/respond/{token}", respond),
    web.post("/_sandbox/fail", fail),
    web.post("/_sandbox/latency", latency),
    web.post("/_sandbox/reset", reset),
]
