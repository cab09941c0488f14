"""Alert intake over HTTP (``POST /alerts/alertmanager``, ``/alerts/grafana``, ``/alerts/events``)
and the Slack side of alerts (triage buttons, the resolve prompt, alert channels).

Each webhook: check the integration's secret in constant time (401, nothing read or parsed), parse
(400 naming the field), store in one transaction, answer 2xx only then. Slack is never called on
the request path: the pump posts and edits afterwards. A failure to store is a 503, so the sender
retries; a repeat of a stored notification changes nothing but last-seen.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.alerts import auth, flows, service, views
from bot.alerts.models import AlertBatch, PayloadError, parse_alertmanager, parse_event, parse_grafana, routing_key
from bot.incidents import flows as incident_flows
from bot.incidents import service as incidents
from bot.incidents.service import Ctx
from bot.runtime import Runtime
from bot.slack.gateway import SlackRejected
from handlers.replies import answer
from storage.alerts import AlertGroup

log = structlog.get_logger(__name__)
MAX_BODY = 5 * 1024 * 1024
COUNTERS = ("received", "stored", "repeats", "unauthorized", "rejected", "failed")


def register(app: AsyncApp, rt: Runtime) -> None:
    AlertListeners(rt).register(app)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


class AlertIntake:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.counts: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        # Its own threads: an alert storm must not queue ahead of Slack's acks in the runtime's pool.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="opsbot-alerts")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def routes(self) -> list[Route]:
        return [Route("/alerts/alertmanager", self.alertmanager, methods=["POST"]),
                Route("/alerts/grafana", self.grafana, methods=["POST"]),
                Route("/alerts/events", self.events, methods=["POST"])]

    async def alertmanager(self, request: Request) -> Response:
        config = self.rt.playbook.alerts.integrations.alertmanager
        secret = self.rt.alert_secrets.alertmanager
        if config is None or secret is None:
            return _error(404, "alertmanager intake is not configured")
        header = request.headers.get("authorization")
        ok = (auth.basic_ok(header, config.username or "", secret) if config.auth == "basic"
              else auth.bearer_ok(header, secret))
        if not ok:
            return self._unauthorized()
        return await self._intake(request, parse_alertmanager)

    async def grafana(self, request: Request) -> Response:
        config = self.rt.playbook.alerts.integrations.grafana
        secret = self.rt.alert_secrets.grafana
        if config is None or secret is None:
            return _error(404, "grafana intake is not configured")
        body = await self._body(request)
        if body is None:
            return _error(413, f"body larger than {MAX_BODY} bytes")
        timestamp = request.headers.get(config.timestamp_header) if config.timestamp_header else None
        if not auth.signature_ok(body, request.headers.get(config.signature_header), timestamp, secret,
                                 timestamped=config.timestamp_header is not None):
            return self._unauthorized()
        return await self._intake(request, parse_grafana, body)

    async def events(self, request: Request) -> Response:
        secret = self.rt.alert_secrets.events
        if self.rt.playbook.alerts.integrations.events is None or secret is None:
            return _error(404, "events intake is not configured")
        body = await self._body(request)
        if body is None:
            return _error(413, f"body larger than {MAX_BODY} bytes")
        data = _json(body)
        if not auth.routing_key_ok(routing_key(data), secret):
            return self._unauthorized()
        return await self._intake(request, parse_event, body)

    def _unauthorized(self) -> JSONResponse:
        self.counts["unauthorized"] += 1
        return _error(401, "unauthorized")

    async def _body(self, request: Request) -> bytes | None:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return None
        body = await request.body()
        return None if len(body) > MAX_BODY else body

    async def _intake(self, request: Request, parse: Callable[[object], AlertBatch],
                      body: bytes | None = None) -> Response:
        self.counts["received"] += 1
        self.rt.alerts.note_intake()
        body = body if body is not None else await self._body(request)
        if body is None:
            return _error(413, f"body larger than {MAX_BODY} bytes")
        data = _json(body)
        if data is None:
            self.counts["rejected"] += 1
            return _error(400, "body: not a JSON object")
        try:
            batch = parse(data)
        except PayloadError as exc:
            self.counts["rejected"] += 1
            return _error(400, str(exc))
        try:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._pool, functools.partial(flows.ingest, self.rt, batch))
        except Exception:  # 5xx: the sender keeps the alert and retries
            self.counts["failed"] += 1
            log.exception("alert_intake_failed", source=batch.source)
            return _error(503, "the alert could not be stored; retry later")
        if result.repeat:
            self.counts["repeats"] += 1
        else:
            self.counts["stored"] += result.stored
            self.rt.kick_alerts()
        return JSONResponse({"ok": True, "group": result.group_id, "stored": result.stored,
                             "changed": result.changed, "repeat": result.repeat, "incident": result.incident_id})

    def metrics(self) -> str:
        lines = ["# HELP opsbot_alert_webhooks Alert webhooks and alerts by outcome, since start.",
                 "# TYPE opsbot_alert_webhooks counter"]
        lines += [f'opsbot_alert_webhooks{{outcome="{name}"}} {count}' for name, count in self.counts.items()]
        return "\n".join(lines) + "\n"


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


class AlertListeners:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._listened: set[str] | None = None

    def register(self, app: AsyncApp) -> None:
        app.action(views.DECLARE)(self.declare)
        app.action(views.ACKNOWLEDGE)(self.acknowledge)
        app.action(views.SILENCE)(self.silence)
        app.action(views.RESOLVE_INCIDENT)(self.resolve_incident)
        app.event("message")(self.message)

    # -- buttons -------------------------------------------------------------------------------
    async def declare(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await self._button(ack, body, respond, lambda ctx, group, user: service.declare(ctx, group, user)[1])

    async def acknowledge(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await self._button(ack, body, respond, service.acknowledge)

    async def silence(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await self._button(ack, body, respond, service.silence)

    async def _button(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                      fn: Callable[[Ctx, AlertGroup, str], str]) -> None:
        await ack()
        value = str(body["actions"][0].get("value", ""))
        user = body["user"]["id"]
        if not value.isdigit():
            await respond(text="That button is not one of mine.", response_type="ephemeral", replace_original=False)
            return
        text = await answer(self.rt.run(flows.on_group, self.rt, int(value),
                                        lambda ctx, group: fn(ctx, group, user)))
        self.rt.kick_alerts()
        await respond(text=text, response_type="ephemeral", replace_original=False)

    async def resolve_incident(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        value = str(body["actions"][0].get("value", ""))
        user = body["user"]["id"]
        if not value.isdigit():
            return
        text = await answer(self.rt.run(incident_flows.by_id, self.rt, int(value), lambda ctx, incident:
                                        incidents.resolve(ctx, incident, "All alerts resolved", user),
                                        must_be_open=False))
        await respond(text=text, response_type="ephemeral", replace_original=False)

    # -- alert channels ------------------------------------------------------------------------
    async def message(self, event: dict[str, Any], context: dict[str, Any]) -> None:
        """A top-level message of an alert integration (or a person) in a listened channel."""
        if not self.rt.playbook.alerts.listen_channels:
            return
        if event.get("subtype") not in (None, "bot_message") or event.get("thread_ts") not in (None, event.get("ts")):
            return
        if (event.get("bot_id") and event.get("bot_id") == context.get("bot_id")) \
                or (event.get("user") and event.get("user") == context.get("bot_user_id")):
            return  # our own triage messages
        channel, ts = event.get("channel"), event.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str) or channel not in await self._channels():
            return
        created = await _quietly(self.rt.run(flows.slack_message, self.rt, channel, ts, _message_text(event)))
        if created:
            self.rt.kick_delivery()

    async def _channels(self) -> set[str]:
        if self._listened is None:
            resolved = await _quietly(self.rt.run_slow(self._resolve_channels))
            if resolved is None:
                return set()  # Slack unreachable: looked up again at the next message
            self._listened = resolved
        return self._listened

    def _resolve_channels(self) -> set[str]:
        """IDs of the listened channels; one that does not exist is skipped (and logged), not retried."""
        found = set()
        for name in self.rt.playbook.alerts.listen_channels:
            try:
                found.add(self.rt.gateway.channel_id(name))
            except SlackRejected:
                log.warning("alert_channel_not_found", channel=name)
        return found


async def _quietly(work: Awaitable[Any]) -> Any:
    try:
        return await work
    except Exception:
        log.exception("alert_channel_message_failed")
        return None


def _message_text(event: dict[str, Any]) -> str:
    text = str(event.get("text") or "")
    for attachment in event.get("attachments") or []:
        if isinstance(attachment, dict):
            text = text or str(attachment.get("title") or attachment.get("fallback") or attachment.get("text") or "")
    return text or "Alert"
