"""Tables of scheduled maintenance windows (procedures 5.4): the windows, their timers (notices,
checklist stages, reminders, completion) and the pre-maintenance checklist ticks.

A window's timers are rows with a due time, claimed with a compare-and-set on that due time
(docs/architecture.md, "Timers are data"), so each notice goes out once across restarts and
replicas. Standing windows from the playbook become rows too, one per occurrence, under a unique
(standing key, occurrence) so two replicas materialising the same occurrence create it once, and a
moved or cancelled occurrence is not created again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models import _when

SCHEDULED, CANCELLED, DONE = "scheduled", "cancelled", "done"
PENDING, FIRED, DROPPED = "pending", "fired", "dropped"


class MaintenanceWindow(SQLModel, table=True):
    """One window, UTC. ``activities`` and ``services`` are JSON lists of strings.

    A window is *active* while ``starts_at <= now < ends_at`` and its status is ``scheduled``;
    ``done`` is set when its completion notice fires, ``cancelled`` by ``/maintenance cancel``.
    """

    __tablename__ = "maintenance_window"
    __table_args__ = (UniqueConstraint("standing_key", "occurrence_at"),)

    id: int | None = Field(default=None, primary_key=True)
    title: str
    starts_at: datetime = _when(index=True)
    ends_at: datetime = _when(index=True)
    activities: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    expected_impact: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    services: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    status: str = Field(default=SCHEDULED, index=True)
    created_by: str  # a Slack user ID, or opsbot for standing windows
    created_at: datetime = _when()
    standing_key: str | None = None  # daily | weekly | monthly…: the playbook's standing window, if any
    occurrence_at: datetime | None = _when(nullable=True)  # a standing window's planned start (before any move)
    request_key: str | None = Field(default=None, unique=True)  # the modal's view ID: a double submit is one window
    cancelled_by: str | None = None
    cancelled_at: datetime | None = _when(nullable=True)
    completed_at: datetime | None = _when(nullable=True)
    thread_message_id: int | None = None  # outbound_message row of the notice whose thread holds the checklist
    checklist_message_id: int | None = None  # outbound_message row of the checklist (edited as items are ticked)

    @property
    def ref(self) -> str:
        return f"MW-{self.id}"


class MaintenanceTimer(SQLModel, table=True):
    """Something due for a window: ``notice_24h``, ``notice_2h``, ``stage_<T-…>``, ``reminder``,
    ``complete``. Fired by a conditional update on (id, state pending, due_at); a move re-times the
    pending ones, a cancel drops them. ``reminder`` is re-armed by moving its due time forward."""

    __tablename__ = "maintenance_timer"
    __table_args__ = (UniqueConstraint("window_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    window_id: int = Field(foreign_key="maintenance_window.id", index=True)
    kind: str
    due_at: datetime = _when(index=True)
    state: str = Field(default=PENDING, index=True)
    fired_at: datetime | None = _when(nullable=True)


class MaintenanceCheck(SQLModel, table=True):
    """A ticked pre-maintenance checklist item: who and when."""

    __tablename__ = "maintenance_check"
    __table_args__ = (UniqueConstraint("window_id", "item_key"),)

    id: int | None = Field(default=None, primary_key=True)
    window_id: int = Field(foreign_key="maintenance_window.id", index=True)
    stage: str  # T-24h | T-2h | T-30m | T-0
    item_key: str
    done_by: str
    done_at: datetime = _when()
