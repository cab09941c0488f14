"""Follow-ups (the post-mortem's action items): what, whose, due when, done or not, and where
they are tracked. Timers are columns (docs/architecture.md, "Timers are data"): ``remind_at`` (the
owner's message on the due date), ``overdue_at`` (the day after) and ``tracker_sync_at`` (the next
exchange with the issue tracker), each claimed by compare-and-set on its value, so a reminder
goes out once across restarts and replicas and a tracker outage only delays the exchange.

Read them through ``bot.followups.queries`` (a person's follow-ups, the open and overdue ones).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, Index, Text
from sqlmodel import Field, SQLModel

from storage.models import _when

OPEN, DONE = "open", "done"


class FollowUp(SQLModel, table=True):
    __tablename__ = "follow_up"
    __table_args__ = (Index("ix_follow_up_owner_status", "owner", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    owner: str  # a Slack user ID
    text: str = Field(sa_column=Column(Text, nullable=False))
    due_on: date = Field(sa_column=Column(Date, nullable=False))
    status: str = Field(default=OPEN, index=True)
    created_by: str
    created_at: datetime = _when()
    request_key: str | None = Field(default=None, unique=True)  # the form's view ID or the command's trigger
    done_by: str | None = None
    done_at: datetime | None = _when(nullable=True)

    remind_at: datetime | None = _when(nullable=True, index=True)
    overdue_at: datetime | None = _when(nullable=True, index=True)

    tracker: str | None = None  # github | jira, as the pack said when it was created
    tracker_key: str | None = None  # the number (GitHub) or key (Jira)
    tracker_url: str | None = None
    tracker_done: bool = False  # as the tracker last said
    tracker_sync_at: datetime | None = _when(nullable=True, index=True)
    tracker_attempts: int = 0
    tracker_error: str | None = None

    @property
    def ref(self) -> str:
        return f"FU-{self.id}"
