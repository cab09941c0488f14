"""`GET /status` and `GET /status.json`: the public status page, served by the bot."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from bot.public import render, status
from bot.runtime import Runtime
from handlers.listeners import route

CACHING = {"Cache-Control": "max-age=30"}


async def _page(rt: Runtime) -> status.StatusPage:
    return await rt.run(rt.work, lambda ctx: status.snapshot(ctx.session, ctx.playbook, ctx.now))


@route("/status", methods=["GET"])
async def as_html(rt: Runtime, _request: Request) -> Response:
    return HTMLResponse(render.html(await _page(rt)), headers=CACHING)


@route("/status.json", methods=["GET"])
async def as_json(rt: Runtime, _request: Request) -> Response:
    return JSONResponse(render.as_json(await _page(rt)), headers=CACHING)
