"""``alerts.yaml``: how monitoring alerts become incidents. Which integrations may send alerts and
how each proves who it is, how alert labels map to a severity, at which severity an alert group
opens an incident by itself (below it a triage message asks a human), how often an incident's alert
summary may be edited, when a re-fire reopens the incident instead of opening a new one, and how
long resolved alerts are kept.

Secrets never live in the YAML (docs/architecture.md, "Secrets stay secret"): each integration
names an environment variable (``secret_env``) or a file (``secret_file``) that holds its token,
password, HMAC key or routing key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from playbooks.common import ChannelName, PackModel
from playbooks.durations import Duration

SeverityKey = Literal["P0", "P1", "P2", "P3"]
_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class _Secret(PackModel):
    """Where an integration's secret is read from at start-up: exactly one of the two."""

    secret_env: str | None = Field(default=None, pattern=_ENV_NAME)
    secret_file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> _Secret:
        if bool(self.secret_env) == bool(self.secret_file):
            raise ValueError("give secret_env (an environment variable) or secret_file (a path), exactly one")
        return self


class AlertmanagerIntake(_Secret):
    """``POST /alerts/alertmanager``: Alertmanager's ``http_config.authorization`` (a Bearer token,
    the secret) or ``basic_auth`` (``username`` here, the password is the secret)."""

    auth: Literal["bearer", "basic"] = "bearer"
    username: str | None = None

    @model_validator(mode="after")
    def _basic_needs_user(self) -> AlertmanagerIntake:
        if self.auth == "basic" and not self.username:
            raise ValueError("auth: basic needs a username")
        return self


class GrafanaIntake(_Secret):
    """``POST /alerts/grafana``: the secret is the HMAC-SHA256 key of Grafana's webhook signature.
    With ``timestamp_header`` set, the signed text is ``timestamp:body`` and old timestamps are refused."""

    signature_header: str = "X-Grafana-Alerting-Signature"
    timestamp_header: str | None = None


class EventsIntake(_Secret):
    """``POST /alerts/events``: PagerDuty Events API v2 bodies; the secret is the ``routing_key``."""


class Integrations(PackModel):
    alertmanager: AlertmanagerIntake | None = None
    grafana: GrafanaIntake | None = None
    events: EventsIntake | None = None


class AlertSettings(PackModel):
    """The whole of ``alerts.yaml``; every key has a default, so the file may be left out."""

    channel: ChannelName = "#alerts"
    """Where triage messages for groups below ``declare_at`` are posted."""
    severity_label: str = "severity"
    severities: dict[str, SeverityKey] = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P3"}
    """Value of ``severity_label`` (lowercased) → incident severity; events' ``payload.severity`` too."""
    default_severity: SeverityKey = "P3"
    declare_at: SeverityKey = "P1"
    """A new alert group at this severity or above opens an incident by itself."""
    summary_every: Duration = timedelta(seconds=30)
    """At most one edit of a group's alert summary message per this interval."""
    reopen_within: Duration = timedelta(hours=1)
    """A re-fire this soon after its incident was resolved reopens it; later, a new incident."""
    auto_resolve: bool = False
    auto_resolve_max_alerts: int = Field(default=5, ge=1)
    """Never auto-resolve a group larger than this (or one Alertmanager truncated)."""
    silence_for: Duration = timedelta(hours=4)
    service_label: str = "service"
    """Label naming the service, asked about maintenance windows."""
    listen_channels: list[ChannelName] = []
    """Channels where existing Slack alert integrations post; each alert message gets a thread with
    a Declare incident button."""
    listen_severity: SeverityKey = "P2"
    retention: Duration = timedelta(days=30)
    """Resolved alert groups and alerts are deleted this long after they resolved (a group whose
    incident is still open is kept)."""
    integrations: Integrations = Integrations()

    @field_validator("severities")
    @classmethod
    def _lowercase_labels(cls, value: dict[str, SeverityKey]) -> dict[str, SeverityKey]:
        for label in value:
            if label != label.lower():
                raise ValueError(f"write label values in lowercase ({label!r} → {label.lower()!r})")
        return value
