"""The post-mortem draft of an incident and the Slack work that publishes it.

The draft is stored as the sections the bot last wrote (``sections``, JSON) and which timeline
entries and follow-ups it holds, so a regeneration knows what is new (added at the end of its
section) and what changed (replaced only when someone says so). Putting the draft in Slack is a
queue of ``PostmortemEdit`` rows, worked through in order by the scheduler tick and claimed by
compare-and-set (docs/architecture.md, "Timers are data"): a canvas edit or a file upload is made
once, and an outage of Slack only delays it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from storage.models import _when

CANVAS, FILE = "canvas", "file"
PUBLISH, APPEND, REPLACE = "publish", "append", "replace"
PENDING, DONE, FAILED = "pending", "done", "failed"


class Postmortem(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", unique=True)
    created_at: datetime = _when()
    created_by: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    """The whole draft as Markdown (canvas-flavoured: mentions are ``![](@U…)``)."""
    sections: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    """JSON ``[{key, title, body}]``: the draft as the bot last wrote it."""
    timeline_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    followup_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    updated_at: datetime | None = _when(nullable=True)
    updated_by: str | None = None
    format: str | None = None  # canvas | file, once Slack has it
    canvas_id: str | None = None
    file_id: str | None = None
    pending_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    """A fresh draft waiting for someone to say it may replace the published one (``ask``)."""
    pending_sections: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class PostmortemEdit(SQLModel, table=True):
    """One change to make in Slack: ``publish`` the draft (a channel canvas, or the Markdown file),
    ``append`` Markdown at the end of a section (``before``: the title of the heading that follows
    it), or ``replace`` the whole draft (asked first)."""

    __tablename__ = "postmortem_edit"
    __table_args__ = (Index("ix_postmortem_edit_due", "state", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    postmortem_id: int = Field(foreign_key="postmortem.id", index=True)
    op: str
    markdown: str = Field(sa_column=Column(Text, nullable=False))
    before: str | None = None
    note: str = ""  # what the message in the channel says about it (e.g. "3 new timeline entries")
    by: str
    state: str = PENDING
    attempts: int = 0
    created_at: datetime = _when()
    next_attempt_at: datetime = _when()
    claimed_until: datetime | None = _when(nullable=True)
    done_at: datetime | None = _when(nullable=True)
    last_error: str | None = None
