"""Tables of the guarded executor: runs, their approvals, locks, the audit trail and the claimed
firings of schedules. Every transition of a run is a compare-and-set on ``Run.status``
(docs/architecture.md, "Timers are data" and "Guarded execution"): a double click, a replayed
request or a second replica changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models import _when

PENDING, APPROVED, RUNNING = "pending", "approved", "running"
SUCCEEDED, FAILED, CANCELLED, DENIED, EXPIRED = "succeeded", "failed", "cancelled", "denied", "expired"
FINISHED = (SUCCEEDED, FAILED, CANCELLED, DENIED, EXPIRED)


class Run(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    action: str = Field(index=True)
    params: str = Field(sa_column=Column(Text, nullable=False))  # JSON, as resolved against the declaration
    risk: str
    approvals_needed: int
    requested_by: str  # a Slack user ID, or schedule:<name>
    requested_in: str  # channel ID
    incident_id: int | None = None  # the incident whose channel it was requested in (for role approvers)
    source: str  # command | retry | schedule
    status: str = Field(default=PENDING, index=True)
    plan: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of step titles
    lock: str | None = None

    requested_at: datetime = _when()
    expires_at: datetime | None = _when(nullable=True)
    started_at: datetime | None = _when(nullable=True)
    heartbeat_at: datetime | None = _when(nullable=True)
    finished_at: datetime | None = _when(nullable=True)
    cancel_requested_by: str | None = None
    worker: str | None = None
    """The bot process running it (``bot.identity.Identity``): when that process is gone
    (killed, crashed), the next start on its machine stops what it started and says so."""

    outcome: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    output: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # redacted
    produced: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # JSON

    request_message_id: int | None = None  # outbound_message rows: their ts anchor the thread
    approval_message_id: int | None = None
    progress_message_id: int | None = None


class RunProcess(SQLModel, table=True):
    """A process group a run started and that has not ended yet: kept so that, if the bot process
    dies, the next start on the same machine can stop it. ``start`` (the process's start time, from
    /proc/<pid>/stat) tells the recorded process apart from a later one given the same PID. A
    ``docker exec`` is recorded by its container and the mark in its environment instead."""

    __tablename__ = "run_process"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(index=True)
    machine: str  # host name and boot id: a PID means something only there, and only since that boot
    # (for a docker exec: the Docker Engine's address)
    pid: int  # also the process group's id: every process is started as the leader of its own group
    # (for a docker exec: the daemon's PID for it, for the log only)
    start: int = Field(sa_column=Column(BigInteger, nullable=False))
    container: str | None = None  # a docker exec: the container it runs in
    mark: str | None = None  # a docker exec: the value of OPSBOT_EXEC in its environment
    command: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # argv, as shown
    started_at: datetime = _when()


class Approval(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("run_id", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    user_id: str
    decision: str  # approve | deny
    at: datetime = _when()


class RunLock(SQLModel, table=True):
    """Held while a run with that lock is running; the primary key makes taking it atomic."""

    __tablename__ = "run_lock"
    name: str = Field(primary_key=True)
    run_id: int
    acquired_at: datetime = _when()


class AuditRecord(SQLModel, table=True):
    """Append-only (database triggers refuse UPDATE and DELETE): who asked, who approved, what ran."""

    __tablename__ = "audit_record"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(index=True)
    at: datetime = _when()
    event: str  # requested | approved | denied | started | cancel_requested | succeeded | failed | ...
    actor: str
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class ScheduleFiring(SQLModel, table=True):
    """One row per (schedule, fire time): the unique key is the claim."""

    __tablename__ = "schedule_firing"
    __table_args__ = (UniqueConstraint("schedule", "fire_at"),)
    id: int | None = Field(default=None, primary_key=True)
    schedule: str
    fire_at: datetime = _when()
    run_id: int | None = None
