"""What the Events API tells about incident channels, kept as it arrives (docs/incident-record.md).

Messages in incident channels are stored when their ``message`` event arrives, so a timeline
reaction finds the message without reading the channel's history (since 2025 Slack allows apps
outside its Marketplace one history read a minute). ``SlackEvent`` holds each handled ``event_id``:
inserted in the transaction of its effect, the unique key makes a retried delivery (Slack's
``X-Slack-Retry-Num``) change nothing, across restarts and replicas. ``HistoryRead`` is the one read
owed for a reacted-to message the bot never saw; ``RateGate`` spaces such reads across replicas.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models import _when

PENDING, DONE, MISSING = "pending", "done", "missing"
SHORTCUT = "shortcut"
"""``TimelineMark.via`` of the message shortcut (otherwise the reaction's emoji name)."""


class SlackEvent(SQLModel, table=True):
    __tablename__ = "slack_event"
    event_id: str = Field(primary_key=True)
    received_at: datetime = _when(index=True)


class ChannelMessage(SQLModel, table=True):
    """A message seen in an incident channel (thread replies too), with its latest text."""

    __tablename__ = "channel_message"
    __table_args__ = (UniqueConstraint("channel_id", "ts"),)
    id: int | None = Field(default=None, primary_key=True)
    channel_id: str
    ts: str
    thread_ts: str | None = None
    user: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    posted_at: datetime = _when()
    edited_at: datetime | None = _when(nullable=True)
    deleted_at: datetime | None = _when(nullable=True)


class TimelineMark(SQLModel, table=True):
    """Someone asked for a message to be on an incident's timeline: a reaction (``via`` its emoji)
    or the message shortcut. The entry stays while any mark does."""

    __tablename__ = "timeline_mark"
    __table_args__ = (UniqueConstraint("incident_id", "channel_id", "ts", "user_id", "via"),)
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    channel_id: str
    ts: str
    user_id: str
    via: str
    at: datetime = _when()


class HistoryRead(SQLModel, table=True):
    """A message reacted to that the bot never saw: read once from the channel's history."""

    __tablename__ = "history_read"
    __table_args__ = (UniqueConstraint("channel_id", "ts"),)
    id: int | None = Field(default=None, primary_key=True)
    channel_id: str
    ts: str
    state: str = Field(default=PENDING, index=True)
    requested_at: datetime = _when()
    due_at: datetime | None = _when(nullable=True, index=True)
    attempts: int = 0
    last_error: str | None = None


class RateGate(SQLModel, table=True):
    """The next moment a rate-limited Slack method may be called, shared by every replica."""

    __tablename__ = "rate_gate"
    name: str = Field(primary_key=True)
    next_at: datetime = _when()
