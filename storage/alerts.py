"""Alert intake tables. An ``AlertGroup`` is one problem as the monitoring system groups it
(Alertmanager's ``groupKey``, an events ``dedup_key``, a Slack alert message); it points at most at
one incident at a time. An ``Alert`` is one firing of one alert: a re-fire of the same fingerprint
has a new start time and is a new row. Timers (the debounced summary edit) are columns claimed
by compare-and-set, as for incidents (docs/architecture.md, "Timers are data")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

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
    summary_due_at: datetime | None = _when(nullable=True, index=True)
    summary_sent_at: datetime | None = _when(nullable=True)
    prompted_at: datetime | None = _when(nullable=True)  # "all alerts resolved" asked for this episode

    first_seen: datetime = _when()
    last_seen: datetime = _when()
    resolved_at: datetime | None = _when(nullable=True)


class Alert(SQLModel, table=True):
    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("group_id", "fingerprint", "starts_at"),)
    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="alert_group.id", index=True)
    fingerprint: str
    starts_at: datetime = _when()
    ends_at: datetime | None = _when(nullable=True)
    status: str  # firing | resolved
    name: str = ""
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    severity: str = ""  # the mapped P0..P3
    labels: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # JSON
    annotations: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # JSON
    url: str | None = None
    first_seen: datetime = _when()
    last_seen: datetime = _when()
