"""What the monitoring systems send, parsed into one typed shape the service works on.

Each source has a pydantic model of its webhook body (unknown keys ignored, as newer versions add
fields); ``parse_*`` turns a body into an ``AlertBatch`` or raises ``PayloadError`` whose message
names the missing or malformed field, for the 400 answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ZERO_TIME_YEAR = 1  # Alertmanager's endsAt while firing: 0001-01-01T00:00:00Z


class PayloadError(Exception):
    """The body is not what the endpoint takes; the message says which field and why."""


@dataclass(frozen=True)
class IncomingAlert:
    fingerprint: str
    status: Literal["firing", "resolved"]
    starts_at: datetime | None  # None (events): the alert of this fingerprint now firing, or now
    ends_at: datetime | None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    url: str | None = None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "") or self.annotations.get("summary", "")[:80]

    @property
    def summary(self) -> str:
        a = self.annotations
        return a.get("summary") or a.get("description") or a.get("message") or ""


@dataclass(frozen=True)
class AlertBatch:
    """One notification about one group of alerts."""

    source: str
    group_key: str
    title: str
    alerts: tuple[IncomingAlert, ...]
    truncated: int = 0
    link: str | None = None
    acknowledge: bool = False  # events: the sender acknowledged the alert

    @property
    def digest(self) -> str:
        """What a repeat of an unchanged notification has in common with the first."""
        content = [self.truncated, self.acknowledge, sorted(
            (a.fingerprint, a.status, a.starts_at.isoformat() if a.starts_at else "",
             a.ends_at.isoformat() if a.ends_at else "", sorted(a.labels.items()), sorted(a.annotations.items()))
            for a in self.alerts)]
        return hashlib.sha256(json.dumps(content, default=str).encode()).hexdigest()


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AmAlert(_Body):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str = Field(min_length=1)
    # Grafana's additions
    values: dict[str, Any] | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    silenceURL: str | None = None


class AmNotification(_Body):
    """Alertmanager's webhook, version 4 (Grafana's is the same with a few more keys)."""

    version: str = "4"
    groupKey: str = Field(min_length=1)
    status: Literal["firing", "resolved"]
    alerts: list[AmAlert]
    truncatedAlerts: int = Field(default=0, ge=0)
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str | None = None
    # Grafana's additions
    title: str | None = None
    state: str | None = None
    message: str | None = None


class EventPayload(_Body):
    summary: str = Field(min_length=1)
    source: str = Field(min_length=1)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    custom_details: Any = None


class EventBody(_Body):
    """PagerDuty Events API v2."""

    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = None
    payload: EventPayload | None = None
    client_url: str | None = None


def _validated(model: type[_Body], body: object) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise PayloadError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """``alerts[0].fingerprint: required`` for the first problem (and how many more there are)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".") or "body"
    what = "required" if first["type"] == "missing" else first["msg"]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where}: {what}{more}"


def _end(value: datetime | None) -> datetime | None:
    return None if value is None or value.year <= ZERO_TIME_YEAR else value


def _title(n: AmNotification) -> str:
    labels = n.groupLabels or n.commonLabels
    name = labels.get("alertname") or (n.alerts[0].labels.get("alertname") if n.alerts else "") or "Alert"
    rest = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
    summary = n.commonAnnotations.get("summary")
    title = f"{name} ({rest})" if rest else name
    return f"{title}: {summary}" if summary else title


def parse_alertmanager(body: object, *, source: str = "alertmanager") -> AlertBatch:
    n: AmNotification = _validated(AmNotification, body)
    alerts = tuple(
        IncomingAlert(fingerprint=a.fingerprint, status=a.status, starts_at=a.startsAt, ends_at=_end(a.endsAt),
                      labels=dict(a.labels), annotations=dict(a.annotations),
                      url=a.panelURL or a.dashboardURL or a.generatorURL)
        for a in n.alerts
    )
    title = n.title if source == "grafana" and n.title else _title(n)
    return AlertBatch(source=source, group_key=n.groupKey, title=title[:200], alerts=alerts,
                      truncated=n.truncatedAlerts, link=n.externalURL)


def parse_grafana(body: object) -> AlertBatch:
    return parse_alertmanager(body, source="grafana")


def routing_key(body: object) -> str | None:
    """The events body's secret, read before anything else is validated (401 before 400)."""
    key = body.get("routing_key") if isinstance(body, dict) else None
    return key if isinstance(key, str) else None


def parse_event(body: object) -> AlertBatch:
    e: EventBody = _validated(EventBody, body)
    if e.event_action == "trigger" and e.payload is None:
        raise PayloadError("payload: required for event_action trigger")
    if e.event_action != "trigger" and not e.dedup_key:
        raise PayloadError(f"dedup_key: required for event_action {e.event_action}")
    p = e.payload
    key = e.dedup_key or hashlib.sha256(f"{p.source}\n{p.summary}".encode()).hexdigest()[:32]  # type: ignore[union-attr]
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if p is not None:
        labels = {"alertname": p.summary[:80], "source": p.source, "severity": p.severity}
        labels |= {k: v for k, v in (("component", p.component), ("group", p.group)) if v}
        annotations = {"summary": p.summary}
    status: Literal["firing", "resolved"] = "resolved" if e.event_action == "resolve" else "firing"
    alert = IncomingAlert(fingerprint=key, status=status, starts_at=None, ends_at=None,
                          labels=labels, annotations=annotations, url=e.client_url)
    title = p.summary[:200] if p else key
    alerts = () if e.event_action == "acknowledge" else (alert,)
    return AlertBatch(source="events", group_key=key, title=title, alerts=alerts,
                      acknowledge=e.event_action == "acknowledge")
