"""``oncall.yaml``: on-call schedules as code (docs/oncall.md).

A schedule is layers of people taking turns (user IDs, or a user group's members), each with its
shift length (``daily``, ``weekly`` or any duration), handoff time and optional restrictions
(business hours, weekends, or any days and hours), read in the schedule's time zone. The first
layer that covers an instant decides who is on call then; overrides outrank every layer. Who is on
call is computed by ``bot.oncall.rota`` from these models; nothing here reads the database.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from functools import cached_property
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, PlainValidator, model_validator

from playbooks.common import PackModel, TimeOfDay, TimeZoneName
from playbooks.durations import Duration, parse_duration
from playbooks.windows import WEEKDAYS, Weekday

_PERSON = re.compile(r"[UW][A-Z0-9]{2,}|@[a-z0-9][a-z0-9._-]*")
_HANDLE = re.compile(r"@[a-z0-9][a-z0-9._-]*")
SCHEDULE_NAME = r"^[a-z0-9][a-z0-9_-]{0,40}$"
PRESETS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "business_hours": (WEEKDAYS[:5], "09:00", "17:00"),
    "weekends": (WEEKDAYS[5:], "00:00", "00:00"),
}
"""The named restrictions: (days, from, to). ``to`` at or before ``from`` ends on the next day."""


def _person(value: str) -> str:
    if _PERSON.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not a person; use a Slack user ID (U0123ABC) or a user group (@sre)")


def _handle(value: str) -> str:
    if _HANDLE.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not a user group handle; write it like @oncall")


def _shift(value: object) -> object:
    if value in ("daily", "weekly"):
        return value
    try:
        length = parse_duration(value)
    except ValueError:
        shown = str(value)[:40]
        raise ValueError(f"{shown!r} is not a shift length; use daily, weekly or a duration like 12h") from None
    if length < timedelta(minutes=15):
        raise ValueError("a shift lasts at least 15m")
    return length


Person = Annotated[str, AfterValidator(_person)]
ShiftLength = Annotated[Literal["daily", "weekly"] | timedelta, PlainValidator(_shift)]
Handle = Annotated[str, AfterValidator(_handle)]


class Window(PackModel):
    """Part of the week a restricted layer covers: on ``days`` from ``start`` to ``end`` (an end at or
    before the start runs into the next day; ``00:00``–``00:00`` is the whole day)."""

    days: list[Weekday] = Field(min_length=1)
    start: TimeOfDay = "00:00"
    end: TimeOfDay = "00:00"

    @cached_property
    def weekdays(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(d) for d in self.days)

    @cached_property
    def times(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


def _restriction(value: object) -> object:
    """``business_hours`` and ``weekends`` are windows by name."""
    if isinstance(value, str):
        if value not in PRESETS:
            raise ValueError(f"unknown restriction {value!r}; use {' or '.join(PRESETS)} or {{days, start, end}}")
        days, start, end = PRESETS[value]
        return {"days": list(days), "start": start, "end": end}
    return value


class Layer(PackModel):
    """People taking turns. Shift ``k`` (from 0) starts ``k`` shift lengths after the first one, on
    ``start`` at ``handoff`` (weekly shifts: on the first ``handoff_day`` from ``start``), and is
    held by person ``k`` modulo the rotation."""

    name: str = ""
    people: list[Person] = Field(min_length=1)
    shift: ShiftLength = "weekly"
    handoff: TimeOfDay = "09:00"
    handoff_day: Weekday = "monday"
    start: date = date(2026, 1, 5)
    restrictions: list[Annotated[Window, BeforeValidator(_restriction)]] = []

    @cached_property
    def handoff_time(self) -> time:
        return time.fromisoformat(self.handoff)

    @cached_property
    def step_days(self) -> int | None:
        """Shifts counted in local days (the handoff stays at its wall-clock time across DST), or None
        for a fixed duration."""
        return {"daily": 1, "weekly": 7}.get(self.shift) if isinstance(self.shift, str) else None

    @cached_property
    def first_day(self) -> date:
        if self.shift != "weekly":
            return self.start
        ahead = (WEEKDAYS.index(self.handoff_day) - self.start.weekday()) % 7
        return self.start + timedelta(days=ahead)


class OncallSchedule(PackModel):
    description: str = ""
    timezone: TimeZoneName = "UTC"
    layers: list[Layer] = Field(min_length=1)
    usergroup: Handle | None = None
    """A Slack user group the bot keeps equal to who is on call (``usergroups.users.update``)."""
    editors: list[Person] = []
    """Who may override and swap (user IDs, ``@groups``); empty: the schedule's own people."""

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @model_validator(mode="after")
    def _names(self) -> OncallSchedule:
        names = [layer.name for layer in self.layers if layer.name]
        if len(names) != len(set(names)):
            raise ValueError("layer names must be unique within a schedule")
        if self.usergroup and any(self.usergroup in layer.people for layer in self.layers):
            raise ValueError(f"{self.usergroup} follows this schedule, so its members cannot also be its people "
                             "(each handoff would change the rotation)")
        return self


class OncallSettings(PackModel):
    """The whole file."""

    schedules: dict[Annotated[str, Field(pattern=SCHEDULE_NAME)], OncallSchedule] = {}
    feed_url: str = Field("http://127.0.0.1:3000/oncall.ics", min_length=1)
    """Where ``GET /oncall.ics`` is reachable from people's calendars (links carry a signature)."""
    drift_check_every: Duration = timedelta(minutes=5)
    """How often a schedule's user group is compared with who is on call (hand edits are put back)."""
    handoff_notes: bool = True
    """Whether the outgoing and incoming people get a direct message at each handoff."""
    horizon: Duration = timedelta(days=35)
    """How far ahead ``/oncall me`` and the handoff timer look."""
