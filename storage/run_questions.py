"""A question a running run asks in its thread (the maintenance drain: "keep waiting?"), and the
answer, recorded here first: the run polls this row, and the button click that answers it is a
compare-and-set on ``answer IS NULL``, so a double click or a second person answers nothing twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from storage.models import _when


class RunQuestion(SQLModel, table=True):
    __tablename__ = "run_question"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    asked_at: datetime = _when()
    text: str = Field(sa_column=Column(Text, nullable=False))
    choices: str = Field(sa_column=Column(Text, nullable=False))  # JSON [[key, label], ...]
    answer: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = _when(nullable=True)
    message_id: int | None = None  # outbound_message row of the prompt (edited once answered)
