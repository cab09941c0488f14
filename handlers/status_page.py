"""`GET /status` and `GET /status.json`: the public status page, served by the bot."""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.public import render, status
from bot.runtime import Runtime


def routes(rt: Runtime) -> list[Route]:
    def page() -> status.StatusPage:
        with Session(rt.engine) as session:
            return status.snapshot(session, rt.playbook, rt.clock())

    async def as_html(_request: Request) -> Response:
        return HTMLResponse(render.html(await rt.run(page)), headers={"Cache-Control": "max-age=30"})

    async def as_json(_request: Request) -> Response:
        return JSONResponse(render.as_json(await rt.run(page)), headers={"Cache-Control": "max-age=30"})

    return [Route("/status", as_html, methods=["GET"]), Route("/status.json", as_json, methods=["GET"])]
