"""The Bolt app and the ASGI application that serves it (docs/architecture.md, "Ack first":
AsyncApp, so acks never wait behind each other; blocking work goes to the runtime's thread pools)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import structlog
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.metrics import CONTENT_TYPE
from bot.runtime import Runtime
from bot.scheduler import start_scheduler
from bot.slack.gateway import async_retry_handlers
from handlers import (
    alerts,
    approvals,
    change,
    followups,
    guard,
    home,
    incident,
    listeners,
    maintenance,
    messages,
    notices,
    oncall,
    ops,
    paging,
    reports,
    status_page,
    timeline,
    windows,
)
from storage.db import ping_database

log = structlog.get_logger(__name__)
HANDLERS = (incident, notices, followups, change, maintenance, windows, ops, approvals, alerts, messages, timeline,
            home, status_page, reports, paging, oncall)
"""Every module whose listeners and endpoints the bot serves (handlers/listeners.py)."""
HEALTH_PING_SECONDS = 2.0


def create_bolt_app(rt: Runtime) -> AsyncApp:
    client = AsyncWebClient(token=rt.settings.bot_token, base_url=rt.settings.api_url,
                            timeout=int(max(1, rt.settings.slack_timeout)), retry_handlers=async_retry_handlers())
    # /slack/events checks the signature (and its 5-minute window) before Bolt sees the body
    # (handlers/guard.py), and Socket Mode has none to check: Bolt need not check it a second time.
    # Listeners return at their ack and go on in the background (handlers/listeners.py), so Bolt
    # answers when they return rather than polling for the ack.
    app = AsyncApp(client=client, signing_secret=rt.settings.signing_secret or "",
                   request_verification_enabled=False, process_before_response=True,
                   logger=logging.getLogger("slack_bolt"))  # its level and filters (bot/logging.py), not root's
    listeners.bind(app, rt, HANDLERS)
    return app


def create_asgi_app(rt: Runtime, *, bolt: AsyncApp | None, scheduler: bool = True) -> Starlette:
    """HTTP routes; ``/slack/events`` only when Slack talks to us over HTTP (``bolt`` given).

    In Socket Mode there is no signing secret to check requests with, so the route must not exist.
    """
    handler = AsyncSlackRequestHandler(bolt) if bolt else None
    secret = rt.settings.signing_secret
    verifier = SignatureVerifier(secret) if secret else None

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if not guard.signature_ok(verifier, body, dict(request.headers)):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        problem = guard.malformed(body.decode("utf-8", errors="replace"), request.headers.get("content-type"))
        if problem:
            log.warning("malformed_slack_request", problem=problem)
            return JSONResponse({"error": f"malformed request: {problem}"}, status_code=400)
        assert handler is not None
        return await handler.handle(request)

    ping: asyncio.Future[None] | None = None

    async def healthz(_request: Request) -> Response:
        """Healthy when the database answers (without it nothing the bot does can be kept) and the
        scheduler is not stalled (bot/watchdog.py): a 503 tells an orchestrator to restart us. The
        probe itself is bounded: one ping at a time, waited for ``HEALTH_PING_SECONDS``."""
        nonlocal ping
        stall = rt.watchdog.stalled()
        if stall is not None:
            return JSONResponse({"ok": False, "error": stall.message}, status_code=503)
        if ping is None or ping.done():
            ping = asyncio.ensure_future(rt.run(ping_database, rt.engine))
        try:
            await asyncio.wait_for(asyncio.shield(ping), timeout=HEALTH_PING_SECONDS)
        except TimeoutError:
            return JSONResponse({"ok": False, "database": "not answering"}, status_code=503)
        except Exception:  # the reason goes to the log, not to whoever probes
            log.warning("healthz_database_unreachable", exc_info=True)
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        running = start_scheduler(rt) if scheduler else None
        try:
            yield
        finally:
            if running:
                running.shutdown(wait=True)

    async def metrics(_request: Request) -> Response:
        """Prometheus' scrape: short database reads, so off the event loop like any other."""
        return Response(await rt.run(rt.metrics.render), media_type=CONTENT_TYPE)

    routes = [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"]),
              *listeners.routes(rt, HANDLERS)]
    if handler:
        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    return Starlette(routes=routes, lifespan=lifespan)
