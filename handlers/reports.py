"""``GET /reports/incidents.csv`` and ``GET /reports/incidents.json``: the per-incident figures for a
spreadsheet or a dashboard, behind a bearer token from the environment (``OPSBOT_REPORTS_TOKEN``),
compared in constant time before anything is read. Without a configured token the export is off (404).
``?days=N`` keeps the incidents declared in the last N days."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot.alerts.auth import bearer_ok
from bot.reports import export, flows
from bot.runtime import Runtime
from handlers.listeners import route

MAX_DAYS = 3650
NO_STORE = {"Cache-Control": "no-store"}


def _refusal(rt: Runtime, request: Request) -> Response | int | None:
    """A 404/401/400 response, or the period asked for (None: every incident)."""
    token = rt.settings.reports_token
    if token is None:
        return JSONResponse({"ok": False, "error": "the export is off: OPSBOT_REPORTS_TOKEN is not set"},
                            status_code=404)
    if not bearer_ok(request.headers.get("authorization"), token.encode()):
        return JSONResponse({"ok": False, "error": "unauthorized"}, status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="opsbot reports"'})
    days = request.query_params.get("days")
    if days is None:
        return None
    if not days.isdigit() or not 1 <= int(days) <= MAX_DAYS:
        return JSONResponse({"ok": False, "error": f"days must be a whole number from 1 to {MAX_DAYS}"},
                            status_code=400)
    return int(days)


@route("/reports/incidents.csv", methods=["GET"])
async def as_csv(rt: Runtime, request: Request) -> Response:
    asked = _refusal(rt, request)
    if isinstance(asked, Response):
        return asked
    rows = await rt.run(flows.export_rows, rt.work, asked)
    return PlainTextResponse(export.as_csv(rows), media_type="text/csv; charset=utf-8",
                             headers={**NO_STORE, "Content-Disposition": 'attachment; filename="incidents.csv"'})


@route("/reports/incidents.json", methods=["GET"])
async def as_json(rt: Runtime, request: Request) -> Response:
    asked = _refusal(rt, request)
    if isinstance(asked, Response):
        return asked
    rows = await rt.run(flows.export_rows, rt.work, asked)
    return JSONResponse({"incidents": export.as_json(rows)}, headers=NO_STORE)
