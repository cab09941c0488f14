"""Paging beyond Slack (docs/paging.md): the acknowledge link a page carries, ``GET``/``POST
/page/ack`` (``/oncall contact …`` is answered with the rest of ``/oncall``, in ``handlers/oncall.py``)."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.paging import flows, views
from bot.paging.links import PATH, LinkBad
from bot.runtime import Runtime
from handlers.listeners import route

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
MAX_FORM_BYTES = 4096


@route(PATH, methods=["GET"])
async def confirm(rt: Runtime, request: Request) -> Response:
    """Shows what acknowledging would do, and the button; acknowledges nothing (link scanners GET)."""
    token = request.query_params.get("t", "")
    checked = rt.page_links.check(token, rt.clock())
    if isinstance(checked, LinkBad):
        return _bad(checked)
    view = await rt.run(flows.page_view, rt.work, checked.page_id)
    if view is None:
        return HTMLResponse(views.message("Unknown page", "This page no longer exists."), 404, headers=NO_STORE)
    return HTMLResponse(views.confirmation(view, token), headers=NO_STORE)


@route(PATH, methods=["POST"])
async def acknowledge(rt: Runtime, request: Request) -> Response:
    """The confirmation's button (or ntfy's Acknowledge action): the token in the form or the query."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return HTMLResponse(views.message("Not acknowledged", "The request is too large."), 413, headers=NO_STORE)
    form = parse_qs(body.decode("utf-8", errors="replace"))
    token = (form.get("t") or [request.query_params.get("t", "")])[-1]
    checked = rt.page_links.check(token, rt.clock())
    if isinstance(checked, LinkBad):
        return _bad(checked)
    said = await rt.run(flows.acknowledge, rt.work, checked.page_id)
    if said is None:
        return HTMLResponse(views.message("Unknown page", "This page no longer exists."), 404, headers=NO_STORE)
    return HTMLResponse(views.message("Acknowledged", said), headers=NO_STORE)


def _bad(checked: LinkBad) -> Response:
    return HTMLResponse(views.message("Not acknowledged", checked.reason), checked.status, headers=NO_STORE)
