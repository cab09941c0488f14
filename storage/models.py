"""Tables of incidents, and the outbox. Timers live on the incident row (docs/architecture.md,
"Timers are data"): a scheduler tick claims due work by compare-and-set on these columns, so each
reminder fires once across restarts and replicas."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _when(nullable: bool = False, index: bool = False) -> object:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Incident(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    severity: str
    status: str = Field(default="open", index=True)  # open | resolved
    phase: str
    declared_by: str
    declared_at: datetime = _when()
    request_key: str | None = Field(default=None, unique=True)  # idempotency for double submits
    source_channel_id: str | None = None
    response_url: str | None = None

    channel_id: str | None = Field(default=None, index=True)
    channel_name: str | None = None
    brief_ts: str | None = None
    provision_due_at: datetime | None = _when(nullable=True)
    provision_attempts: int = 0

    acknowledged_at: datetime | None = _when(nullable=True)
    acknowledged_by: str | None = None
    resolved_at: datetime | None = _when(nullable=True, index=True)  # the status page: open or recently resolved
    resolved_by: str | None = None
    resolution_summary: str | None = None

    next_update_at: datetime | None = _when(nullable=True)
    last_update_at: datetime | None = _when(nullable=True)
    last_cadence_at: datetime | None = _when(nullable=True)
    missed_updates: int = 0
    ack_due_at: datetime | None = _when(nullable=True)
    escalation_level: int = 0
    next_escalation_at: datetime | None = _when(nullable=True)

    @property
    def ref(self) -> str:
        return f"INC-{self.id:04d}"


class RoleAssignment(SQLModel, table=True):
    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("incident_id", "role"),)
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    role: str
    user_id: str
    assigned_by: str
    assigned_at: datetime = _when()


class TimelineEntry(SQLModel, table=True):
    """What happened, when and by whom. A message captured from the channel (``kind`` ``message``:
    a timeline reaction or the "Add to incident timeline" shortcut) keeps where it came from, so an
    edit or a deletion in Slack reaches its entry; one message is on an incident's timeline once."""

    __tablename__ = "timeline_entry"
    __table_args__ = (UniqueConstraint("incident_id", "message_channel", "message_ts",
                                       name="uq_timeline_entry_message"),)
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    at: datetime = _when()
    author: str  # a Slack user ID, or "opsbot"
    kind: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    message_channel: str | None = None
    message_ts: str | None = None
    permalink: str | None = None
    edited_at: datetime | None = _when(nullable=True)
    deleted_at: datetime | None = _when(nullable=True)


class ChecklistTick(SQLModel, table=True):
    __tablename__ = "checklist_tick"
    __table_args__ = (UniqueConstraint("incident_id", "item_key"),)
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    phase: str
    item_key: str
    done_by: str
    done_at: datetime = _when()


class StatusUpdate(SQLModel, table=True):
    __tablename__ = "status_update"
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    at: datetime = _when()
    author: str
    status: str
    impact: str = ""
    actions: str = ""
    eta: str = ""


class OutboundMessage(SQLModel, table=True):
    """A Slack Web API call waiting to be made (docs/architecture.md, "Commit, then tell Slack":
    nothing is lost when Slack is slow).

    ``channel`` may be an ID or a ``#name`` resolved at delivery; ``args`` is the JSON body.
    """

    __tablename__ = "outbound_message"
    __table_args__ = (
        Index("ix_outbound_due", "state", "next_attempt_at"),
        Index("ix_outbound_state_id", "state", "id"),  # delivery: the oldest due rows of a state, in order
        Index("ix_outbound_sent", "state", "sent_at"),  # pruning what was sent long ago
        Index("ix_outbound_anchor", "anchor_id"),  # an edit supersedes the unsent edits of its message
    )
    id: int | None = Field(default=None, primary_key=True)
    method: str
    channel: str
    args: str = Field(sa_column=Column(Text, nullable=False))
    incident_id: int | None = Field(default=None, index=True)
    purpose: str = ""
    state: str = "pending"  # pending | sending | sent | failed
    attempts: int = 0
    created_at: datetime = _when()
    next_attempt_at: datetime = _when()
    claimed_until: datetime | None = _when(nullable=True)
    claimed_by: str | None = None
    """The process sending it (``bot.claimant``): a claim whose holder is gone is taken back at once."""
    sent_at: datetime | None = _when(nullable=True)
    result_ts: str | None = None
    last_error: str | None = None
    anchor_id: int | None = None
    """Another row whose message this call needs: its ``result_ts`` fills ``anchor_field`` of the
    args (``thread_ts`` for a reply, ``ts`` for an edit) at delivery, once that row is sent."""
    anchor_field: str | None = None
