"""`GET /status` and `GET /status.json`: the public status page, served by the bot from its cache
(``bot.public.cache``) on the event loop, one page of incidents at a time (``?page=2`` for older),
with an ETag so a client polling it gets 304 until something it shows changes."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.public.cache import MAX_AGE
from bot.runtime import Runtime
from handlers.listeners import route

log = structlog.get_logger(__name__)
CACHING = {"Cache-Control": f"max-age={int(MAX_AGE.total_seconds())}"}
MEDIA = {"html": "text/html; charset=utf-8", "json": "application/json"}


async def _answer(rt: Runtime, request: Request, kind: str) -> Response:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 6:
        return _problem(kind, 400, f"page must be a whole number from 1, not {raw[:20]!r}")
    try:
        served = await rt.status_page.served(kind, int(raw))
    except Exception:  # the page was never built and the database cannot build it now
        log.exception("status_page_unavailable")
        return _problem(kind, 503, "The status page is unavailable right now; try again shortly.")
    if served is None:
        return _problem(kind, 404, f"There is no page {raw} of the status page.")
    headers = {**CACHING, "ETag": served.etag}
    if served.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(served.body, media_type=MEDIA[kind], headers=headers)


def _problem(kind: str, status: int, message: str) -> Response:
    if kind == "json":
        return JSONResponse({"error": message}, status_code=status)
    return PlainTextResponse(message, status_code=status)


@route("/status", methods=["GET"])
async def as_html(rt: Runtime, request: Request) -> Response:
    return await _answer(rt, request, "html")


@route("/status.json", methods=["GET"])
async def as_json(rt: Runtime, request: Request) -> Response:
    return await _answer(rt, request, "json")
