"""Alert intake tables. An ``AlertGroup`` is one problem as the monitoring system groups it
(Alertmanager's ``groupKey``, an events ``dedup_key``, a Slack alert message); it points at most at
one incident at a time. An ``Alert`` is one alert of a group (one fingerprint), in the state the
latest notification gave it: a re-fire (a new start time) replaces the row's firing rather than
adding one, so a group holds one row per fingerprint, and intake reads one row per alert it is told
about, never the alert's history. Timers (the incident owed to a paging group, the debounced
summary edit) are columns claimed by compare-and-set, as for incidents (docs/architecture.md,
"Timers are data").

Resolved groups and alerts are kept for the pack's ``retention`` and then deleted in batches
(``prune_groups``, ``prune_alerts``, run by ``bot.alerts.retention``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint, delete, exists, or_
from sqlmodel import Field, Session, SQLModel, col, select

from storage.models import Incident
from storage.types import UTCDateTime


def _when(nullable: bool = False, index: bool = False) -> object:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class AlertGroup(SQLModel, table=True):
    __tablename__ = "alert_group"
    __table_args__ = (UniqueConstraint("source", "key_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str  # alertmanager | grafana | events | slack
    key_hash: str  # sha256 of group_key: group keys can be long, the unique index stays small
    group_key: str = Field(sa_column=Column(Text, nullable=False))
    title: str
    severity: str  # P0..P3, the highest mapped severity seen in the group
    service: str | None = None
    status: str = "firing"  # firing | resolved
    truncated: int = 0  # Alertmanager's truncatedAlerts in the last notification
    payload_hash: str | None = None  # digest of the last notification: a repeat changes nothing else
    link: str | None = None

    incident_id: int | None = Field(default=None, index=True)
    episode: int = 0  # incidents opened for this group so far (the idempotency key of the next one)
    triage: str = "none"  # none | pending | acknowledged | silenced | declared
    triage_by: str | None = None
    silenced_until: datetime | None = _when(nullable=True)

    message_id: int | None = None  # outbound row of the message that shows the group (triage or summary)
    thread_channel: str | None = None  # a Slack alert message this group came from: its channel and ts
    thread_ts: str | None = None
    declare_due_at: datetime | None = _when(nullable=True, index=True)  # a paging group's incident is owed
    summary_due_at: datetime | None = _when(nullable=True, index=True)
    summary_sent_at: datetime | None = _when(nullable=True)
    prompted_at: datetime | None = _when(nullable=True)  # "all alerts resolved" asked for this episode

    first_seen: datetime = _when()
    last_seen: datetime = _when()
    resolved_at: datetime | None = _when(nullable=True, index=True)


class Alert(SQLModel, table=True):
    __tablename__ = "alert"
    # one row per fingerprint; its leading column also serves every lookup by group
    __table_args__ = (UniqueConstraint("group_id", "fingerprint", name="uq_alert_group_fingerprint"),)
    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="alert_group.id")
    fingerprint: str
    starts_at: datetime = _when()  # of the latest firing
    ends_at: datetime | None = _when(nullable=True, index=True)  # set once resolved: what retention reads
    status: str  # firing | resolved
    name: str = ""
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    severity: str = ""  # the mapped P0..P3
    labels: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # JSON
    annotations: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # JSON
    url: str | None = None
    first_seen: datetime = _when()
    last_seen: datetime = _when()


def prune_groups(session: Session, now: datetime, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` groups resolved before ``before``, with their alerts; the number deleted.

    Kept whatever their age: a group whose incident is still open (a re-fire must find it), one
    with a message or an incident still owed, one silenced beyond ``now``. On PostgreSQL the
    groups are locked first, as intake locks a group before its alerts: a notification arriving
    meanwhile waits, and a group it made firing again is left alone."""
    open_incident = exists().where(col(Incident.id) == col(AlertGroup.incident_id), Incident.status == "open")
    wanted = (AlertGroup.status == "resolved", col(AlertGroup.resolved_at) < before,
              col(AlertGroup.summary_due_at).is_(None), col(AlertGroup.declare_due_at).is_(None),
              or_(col(AlertGroup.silenced_until).is_(None), col(AlertGroup.silenced_until) <= now), ~open_incident)
    ids = list(session.exec(select(AlertGroup.id).where(*wanted).order_by(col(AlertGroup.resolved_at))
                            .limit(limit)).all())
    if not ids:
        return 0
    ids = list(session.exec(select(AlertGroup.id).where(col(AlertGroup.id).in_(ids), *wanted)
                            .with_for_update()).all())
    if ids:
        session.exec(delete(Alert).where(col(Alert.group_id).in_(ids)))  # type: ignore[call-overload]
        session.exec(delete(AlertGroup).where(col(AlertGroup.id).in_(ids)))  # type: ignore[call-overload]
    return len(ids)


def prune_alerts(session: Session, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` alerts resolved before ``before`` from groups that go on firing (as
    hosts come and go); the number deleted. A resolved group keeps its alerts until it goes whole."""
    wanted = (Alert.status == "resolved", col(Alert.ends_at) < before,
              exists().where(col(AlertGroup.id) == col(Alert.group_id), AlertGroup.status == "firing"))
    ids = list(session.exec(select(Alert.id).where(*wanted).order_by(col(Alert.ends_at)).limit(limit)).all())
    if not ids:
        return 0
    deleted = session.exec(delete(Alert).where(col(Alert.id).in_(ids), *wanted))  # type: ignore[call-overload]
    return int(deleted.rowcount)
