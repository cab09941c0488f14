"""Paging beyond Slack (docs/paging.md): people's contact methods, the pages of an escalation and
each send of a page through one contact method.

Timers are rows (docs/architecture.md, "Timers are data"): a page's ``next_round_at`` is when it
is repeated, a send's ``due_at`` when it goes out (or is tried again); both are claimed by
compare-and-set, so a page is never lost across a restart and a step is never sent twice. A send is
unique per (page, round, contact), whatever the number of processes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models import _when

DUE, SENT, FAILED, CANCELLED = "due", "sent", "failed", "cancelled"


class ContactMethod(SQLModel, table=True):
    """One way to reach a person beyond Slack (``bot.paging.service.contacts`` orders them)."""

    __tablename__ = "contact_method"
    __table_args__ = (UniqueConstraint("user_id", "kind", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(index=True)  # a Slack user ID
    kind: str  # email | ntfy | sms
    address: str  # an e-mail address, an ntfy topic, an E.164 phone number
    after_seconds: int | None = None  # None: paging.yaml's delay for the kind
    created_at: datetime = _when()


class Page(SQLModel, table=True):
    """One person paged for one escalation level of an incident, repeated until acknowledged."""

    __tablename__ = "page"
    __table_args__ = (UniqueConstraint("incident_id", "level", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    level: int
    user_id: str
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = _when()
    round: int = 1
    next_round_at: datetime | None = _when(nullable=True, index=True)
    stopped_at: datetime | None = _when(nullable=True)
    stopped_by: str | None = None  # who acknowledged (a Slack user ID), or why it stopped


class PageSend(SQLModel, table=True):
    """One round of a page through one contact method: due, sent, failed (given up) or cancelled."""

    __tablename__ = "page_send"
    __table_args__ = (UniqueConstraint("page_id", "round", "contact_id"),)
    id: int | None = Field(default=None, primary_key=True)
    page_id: int = Field(foreign_key="page.id", index=True)
    round: int
    contact_id: int | None = None  # None once the person removed the contact; the kind and address stay
    kind: str
    address: str
    state: str = Field(default=DUE, index=True)
    due_at: datetime | None = _when(nullable=True, index=True)
    attempts: int = 0
    error: str | None = None
    sent_at: datetime | None = _when(nullable=True)
