"""Tables of change management (procedures 5.2): requests, their timeline, approvals checklist
ticks and the per-year counter behind ``CR-YYYY-NNNN``.

Status moves are compare-and-set updates on ``ChangeRequest.status`` and the emergency reminder is
a due time claimed the same way (docs/architecture.md, "Timers are data"), so a double click or a
second replica changes nothing twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models import _when

REQUESTED, APPROVED, IN_PROGRESS, DONE, ROLLED_BACK = "requested", "approved", "in_progress", "done", "rolled_back"
FINISHED = (DONE, ROLLED_BACK)


class ChangeCounter(SQLModel, table=True):
    """The last number handed out per year; incremented by one atomic UPDATE per request."""

    __tablename__ = "change_counter"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = 0


class ChangeRequest(SQLModel, table=True):
    __tablename__ = "change_request"
    __table_args__ = (UniqueConstraint("year", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True)  # CR-YYYY-NNNN
    year: int
    seq: int
    request_key: str | None = Field(default=None, unique=True)  # the modal's view ID: a double submit is one request

    category: str  # standard | normal | emergency (keys of changes.yaml)
    priority: str  # High | Medium | Low
    description: str = Field(sa_column=Column(Text, nullable=False))
    systems: str = Field(sa_column=Column(Text, nullable=False))
    user_impact: str  # None | Minimal | Significant
    downtime: bool = False
    downtime_duration: str = ""
    risk: str  # Low | Medium | High
    implementation_plan: str = Field(sa_column=Column(Text, nullable=False))
    rollback_plan: str = Field(sa_column=Column(Text, nullable=False))
    testing: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))  # JSON: ticked items

    requested_by: str
    requested_at: datetime = _when()
    named_approver: str | None = None  # emergency: who gave the verbal approval (and is reminded)

    status: str = Field(default=REQUESTED, index=True)
    approved_by: str | None = None
    approved_at: datetime | None = _when(nullable=True)
    approval_owed: bool = Field(default=False, index=True)
    remind_at: datetime | None = _when(nullable=True, index=True)
    reminders_sent: int = 0
    started_at: datetime | None = _when(nullable=True)
    finished_at: datetime | None = _when(nullable=True)

    maintenance_window_id: int | None = None
    incident_id: int | None = Field(default=None, index=True)

    message_id: int | None = None  # outbound_message rows: the announcement (its ts anchors the thread)
    controls_id: int | None = None  # and the buttons in its thread


class ChangeEvent(SQLModel, table=True):
    """The request's timeline: every step with its time and author."""

    __tablename__ = "change_event"

    id: int | None = Field(default=None, primary_key=True)
    change_id: int = Field(foreign_key="change_request.id", index=True)
    at: datetime = _when()
    author: str  # a Slack user ID, or opsbot
    kind: str
    text: str = Field(sa_column=Column(Text, nullable=False))


class ChangeApproval(SQLModel, table=True):
    """A ticked approvals checklist item (Technical Lead, Security Review…): who and when."""

    __tablename__ = "change_approval"
    __table_args__ = (UniqueConstraint("change_id", "item"),)

    id: int | None = Field(default=None, primary_key=True)
    change_id: int = Field(foreign_key="change_request.id", index=True)
    item: str
    user_id: str
    at: datetime = _when()
