"""On-call tables: the changes people made to the final schedule (overrides and swaps), each
schedule's handoff state (its timers: the next handoff and the next user-group check, claimed by
compare-and-set, docs/architecture.md "Timers are data"), and the audit of who changed what.

The schedules themselves are the pack's (``oncall.yaml``); only what Slack users changed and what
the bot did about it are rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from storage.models import _when

OVERRIDE, SWAP = "override", "swap"


class OncallChange(SQLModel, table=True):
    """An override (``user_id`` on call from ``starts_at`` to ``ends_at``, outranking every layer) or
    a swap (layer ``layer``'s shift starting at ``starts_at`` held by ``user_id`` instead of
    ``replaced``)."""

    __tablename__ = "oncall_change"
    id: int | None = Field(default=None, primary_key=True)
    schedule: str = Field(index=True)
    kind: str  # override | swap
    user_id: str
    replaced: str | None = None
    layer: int | None = None
    starts_at: datetime = _when(index=True)
    ends_at: datetime = _when(index=True)
    created_by: str
    created_at: datetime = _when()


class OncallState(SQLModel, table=True):
    """What the bot last made of a schedule: who it handed the schedule to (``on_call``, comma-joined
    user IDs, what the user group was set to) and its two timers."""

    __tablename__ = "oncall_state"
    id: int | None = Field(default=None, primary_key=True)
    schedule: str = Field(unique=True)
    on_call: str | None = None  # None: never handed over yet (the first pass tells nobody)
    handoff_at: datetime | None = _when(nullable=True, index=True)
    drift_check_at: datetime | None = _when(nullable=True, index=True)

    @property
    def people(self) -> tuple[str, ...]:
        return tuple(p for p in (self.on_call or "").split(",") if p)


class OncallAudit(SQLModel, table=True):
    """Who changed what: ``override``, ``swap``, ``handoff``, ``group_restored`` (a hand edit of the
    schedule's user group put back) with a line of detail (``opsbot audit --oncall``)."""

    __tablename__ = "oncall_audit"
    id: int | None = Field(default=None, primary_key=True)
    schedule: str = Field(index=True)
    at: datetime = _when(index=True)
    actor: str
    event: str
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
