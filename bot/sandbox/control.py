"""`/_sandbox/*`: the Slack side a test or tool drives from outside the process.

Read the workspace, mint trigger ids and response URLs, receive response_url posts, apply what the
Slack client does with the bot's answers (a command's ack, a view_submission's response_action, a
dismissed modal), inject faults and latency, reset. Bodies are JSON (form-encoded also accepted
where every field is text); answers are JSON. ``bot.sandbox.remote`` is the client.
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


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _refused(error: SlackError) -> web.Response:
    return web.json_response(error.body(), status=400)


async def ack(request: web.Request) -> web.Response:
    """``{channel_id, user_id, body}``: show a slash command's ack body to the user, as Slack does."""
    args = await _json_body(request)
    if not isinstance(args.get("body"), dict):
        raise web.HTTPBadRequest(text="body (the ack's JSON object) is required")
    try:
        request.app[WORKSPACE].show_ack(str(args.get("channel_id", "")), str(args.get("user_id", "")), args["body"])
    except SlackError as error:
        return _refused(error)
    return web.json_response({"ok": True})


async def view_response(request: web.Request) -> web.Response:
    """``{response}``: apply the bot's answer to a view_submission to the submitted view."""
    args = await _json_body(request)
    view_id = request.match_info["view_id"]
    if request.app[WORKSPACE].view(view_id) is None:
        return web.json_response({"ok": False, "error": "not_found"}, status=404)
    try:
        request.app[WORKSPACE].apply_view_response(view_id, args.get("response"))
    except SlackError as error:
        return _refused(error)
    return web.json_response({"ok": True})


async def close_view(request: web.Request) -> web.Response:
    view_id = request.match_info["view_id"]
    if request.app[WORKSPACE].view(view_id) is None:
        return web.json_response({"ok": False, "error": "not_found"}, status=404)
    request.app[WORKSPACE].close_view(view_id)
    return web.json_response({"ok": True})


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


async def upload(request: web.Request) -> web.Response:
    """An upload URL from files.getUploadURLExternal: the file's bytes, raw or as a multipart form."""
    if request.content_type == "multipart/form-data":
        form = await request.post()
        field = next((v for v in form.values() if hasattr(v, "file")), None)
        content = field.file.read() if field is not None else b""  # type: ignore[union-attr]
    else:
        content = await request.read()
    if not request.app[WORKSPACE].receive_upload(request.match_info["file_id"], content):
        return web.Response(status=404, text="Not Found")
    return web.Response(text=f"OK - {len(content)}")


async def reset(request: web.Request) -> web.Response:
    request.app[WORKSPACE].reset()
    return web.json_response({"ok": True})


ROUTES = [
    web.get("/_sandbox/state", state),
    web.post("/_sandbox/trigger", trigger),
    web.post("/_sandbox/response_url", response_url),
    web.post("/_sandbox/respond/{token}", respond),
    web.post("/_sandbox/ack", ack),
    web.post("/_sandbox/views/{view_id}/response", view_response),
    web.post("/_sandbox/views/{view_id}/close", close_view),
    web.post("/_sandbox/fail", fail),
    web.post("/_sandbox/latency", latency),
    web.post("/_sandbox/reset", reset),
    web.post("/_sandbox/upload/{file_id}", upload),
]
