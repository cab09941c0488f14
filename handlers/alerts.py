"""Alert intake over HTTP (``POST /alerts/alertmanager``, ``/alerts/grafana``, ``/alerts/events``)
and the Slack side of alerts (triage buttons, the resolve prompt, alert channels).

Each webhook: check the integration's secret in constant time (401, nothing read or parsed), parse
(400 naming the field), store in one transaction, answer 2xx only then. Slack is never called on
the request path, nor is an incident declared there: the pump declares the incidents paging groups
are owed, sets up their channels, posts and edits afterwards. A failure to store is a 503, so the sender
retries; a repeat of a stored notification changes nothing but last-seen.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from typing import Any

import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.alerts import auth, flows, service, views
from bot.alerts.payloads import AlertBatch, PayloadError, parse_alertmanager, parse_event, parse_grafana, routing_key
from bot.incidents import flows as incident_flows
from bot.incidents import service as incidents
from bot.runtime import Runtime
from bot.work import Ctx
from handlers.listeners import action, route
from handlers.replies import Click, Refused, answer_click, outcome
from storage.alerts import AlertGroup

log = structlog.get_logger(__name__)
MAX_BODY = 5 * 1024 * 1024


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


# -- webhooks -----------------------------------------------------------------------------------------
@route("/alerts/alertmanager", methods=["POST"])
async def alertmanager(rt: Runtime, request: Request) -> Response:
    config = rt.playbook.alerts.integrations.alertmanager
    secret = rt.alert_secrets.alertmanager
    if config is None or secret is None:
        return _error(404, "alertmanager intake is not configured")
    header = request.headers.get("authorization")
    ok = (auth.basic_ok(header, config.username or "", secret) if config.auth == "basic"
          else auth.bearer_ok(header, secret))
    if not ok:
        return _unauthorized(rt)
    return await _intake(rt, request, parse_alertmanager)


@route("/alerts/grafana", methods=["POST"])
async def grafana(rt: Runtime, request: Request) -> Response:
    config = rt.playbook.alerts.integrations.grafana
    secret = rt.alert_secrets.grafana
    if config is None or secret is None:
        return _error(404, "grafana intake is not configured")
    body = await _body(request)
    if body is None:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    timestamp = request.headers.get(config.timestamp_header) if config.timestamp_header else None
    if not auth.signature_ok(body, request.headers.get(config.signature_header), timestamp, secret,
                             timestamped=config.timestamp_header is not None):
        return _unauthorized(rt)
    return await _intake(rt, request, parse_grafana, body)


@route("/alerts/events", methods=["POST"])
async def events(rt: Runtime, request: Request) -> Response:
    secret = rt.alert_secrets.events
    if rt.playbook.alerts.integrations.events is None or secret is None:
        return _error(404, "events intake is not configured")
    body = await _body(request)
    if body is None:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    if not auth.routing_key_ok(routing_key(_json(body)), secret):
        return _unauthorized(rt)
    return await _intake(rt, request, parse_event, body)


def _unauthorized(rt: Runtime) -> JSONResponse:
    rt.metrics.alert_webhooks.add("unauthorized")
    return _error(401, "unauthorized")


async def _body(request: Request) -> bytes | None:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY:
        return None
    body = await request.body()
    return None if len(body) > MAX_BODY else body


async def _intake(rt: Runtime, request: Request, parse: Callable[[object], AlertBatch],
                  body: bytes | None = None) -> Response:
    rt.metrics.alert_webhooks.add("received")
    rt.alerts.note_intake()
    body = body if body is not None else await _body(request)
    if body is None:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    data = _json(body)
    if data is None:
        rt.metrics.alert_webhooks.add("rejected")
        return _error(400, "body: not a JSON object")
    try:
        batch = parse(data)
    except PayloadError as exc:
        rt.metrics.alert_webhooks.add("rejected")
        return _error(400, str(exc))
    try:
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(rt.intake_pool, functools.partial(flows.ingest, rt.work, batch))
    except Exception:  # 5xx: the sender keeps the alert and retries
        rt.metrics.alert_webhooks.add("failed")
        log.exception("alert_intake_failed", source=batch.source)
        return _error(503, "the alert could not be stored; retry later")
    if result.repeat:
        rt.metrics.alert_webhooks.add("repeats")
    else:
        rt.metrics.alert_webhooks.add("stored", result.stored)
        rt.kick_alerts()
    return JSONResponse({"ok": True, "group": result.group_id, "stored": result.stored,
                         "changed": result.changed, "repeat": result.repeat, "incident": result.incident_id})


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


# -- triage buttons -----------------------------------------------------------------------------------
async def _on_group(rt: Runtime, click: Click, fn: Callable[[Ctx, AlertGroup, str], str]) -> str:
    try:
        return await rt.run(flows.on_group, rt.work, click.id, lambda ctx, group: fn(ctx, group, click.user))
    finally:
        rt.kick_alerts()  # the group's message shows what the click changed


@action(views.DECLARE)
async def declare(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: _on_group(
        rt, c, lambda ctx, group, user: service.declare(ctx, group, user)[1]))


@action(views.ACKNOWLEDGE)
async def acknowledge(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: _on_group(rt, c, service.acknowledge))


@action(views.SILENCE)
async def silence(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: _on_group(rt, c, service.silence))


@action(views.RESOLVE_INCIDENT)
async def resolve_incident(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    """The all-resolved prompt in the incident's channel: its value is the incident's id."""
    await answer_click(ack, respond, body, lambda c: rt.run(
        incident_flows.by_id, rt.work, c.id, lambda ctx, incident:
        incidents.resolve(ctx, incident, "All alerts resolved", c.user), must_be_open=False))


# -- alert channels -----------------------------------------------------------------------------------
async def channel_message(rt: Runtime, event: dict[str, Any], context: dict[str, Any]) -> None:
    """A top-level message of an alert integration (or a person) in a listened channel (the one
    ``message`` listener, in handlers/messages.py, hands every message here)."""
    if not rt.playbook.alerts.listen_channels:
        return
    if event.get("subtype") not in (None, "bot_message") or event.get("thread_ts") not in (None, event.get("ts")):
        return
    if (event.get("bot_id") and event.get("bot_id") == context.get("bot_id")) \
            or (event.get("user") and event.get("user") == context.get("bot_user_id")):
        return  # our own triage messages
    channel, ts = event.get("channel"), event.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str):
        return
    listened = await outcome(rt.run_slow(rt.listened.ids))
    if isinstance(listened, Refused) or channel not in listened:  # Slack unreachable: looked up at the next one
        return
    await outcome(rt.run(flows.slack_message, rt.work, channel, ts, _message_text(event)))


def _message_text(event: dict[str, Any]) -> str:
    text = str(event.get("text") or "")
    for attachment in event.get("attachments") or []:
        if isinstance(attachment, dict):
            text = text or str(attachment.get("title") or attachment.get("fallback") or attachment.get("text") or "")
    return text or "Alert"
