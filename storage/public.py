"""Customer notices (procedures 5.1, customer communication templates): drafted by the
Communications Lead, approved by the Incident Commander, then public. The status page reads only
published rows of this table, so nothing internal can reach it by accident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from storage.models import _when

DRAFT, PUBLISHED = "draft", "published"
INITIAL, RESOLUTION = "initial", "resolution"


class CustomerNotice(SQLModel, table=True):
    __tablename__ = "customer_notice"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    kind: str  # initial | resolution
    public_title: str
    impact: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=DRAFT, index=True)
    drafted_by: str
    drafted_at: datetime = _when()
    request_key: str | None = Field(default=None, unique=True)  # the modal's view ID: a double submit is one draft
    approved_by: str | None = None
    published_at: datetime | None = _when(nullable=True, index=True)
    preview_message_id: int | None = None  # outbound_message row of the preview, edited once published
