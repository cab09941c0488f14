"""The weekly report digests: one row per firing of the digest's cron, inserted to claim it (the unique
``fire_at`` is the claim, as executor schedules claim a (schedule, fire time) row; docs/architecture.md,
"Timers are data"), so a restart or a second replica never posts a digest twice. The row then carries
the chart's upload (``files.getUploadURLExternal`` + ``files.completeUploadExternal``): background
work claimed by compare-and-set on ``chart_state`` and ``attempts``, done once, retried while Slack
is unavailable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from storage.models import _when
from storage.types import UTCDateTime

PENDING, SENDING, DONE, FAILED = "pending", "sending", "done", "failed"


class ReportDigest(SQLModel, table=True):
    __tablename__ = "report_digest"
    __table_args__ = (Index("ix_report_digest_chart_due", "chart_state", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    fire_at: datetime = Field(default=None, sa_column=Column(UTCDateTime(), nullable=False, unique=True))
    since: datetime = _when()
    until: datetime = _when()
    channel: str
    message_id: int | None = None
    """The digest's ``outbound_message`` row: the chart goes in its thread once it is sent."""
    created_at: datetime = _when()
    chart_state: str = PENDING
    attempts: int = 0
    next_attempt_at: datetime = _when()
    claimed_until: datetime | None = _when(nullable=True)
    file_id: str | None = None
    last_error: str | None = None
