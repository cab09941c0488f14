"""`/followups` text, and the due date people type (``/incident followup @owner <due> <text>``),
as typed values or a ``ParseError`` that says how to write them (``bot.commands``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.commands import Help, ParseError, verb_and_rest

USAGE = """*`/followups`* — the action items of post-mortems
• `/followups` or `/followups mine` — yours that are still open
• `/followups all` — every open one, overdue first
• `/followups done FU-12` — mark one done (the same as its Done button)
In an incident channel, `/incident followup @owner <due> <text>` adds one; <due> is a date \
(2026-12-05), today, tomorrow, a weekday (friday) or a number of days (3d)."""
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DUE_HINT = "Write the due date like 2026-12-05, today, tomorrow, friday or 3d."
MAX_DAYS = 366
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DAYS = re.compile(r"\+?([0-9]{1,3})d")
_REF = re.compile(r"(?:FU-)?([0-9]{1,9})", re.IGNORECASE)


@dataclass(frozen=True)
class Due:
    """A due date as typed: a date, a number of days from today, or the next such weekday."""

    on: date | None = None
    in_days: int | None = None
    weekday: int | None = None  # Monday is 0; the next one after today

    def resolve(self, today: date) -> date:
        if self.on is not None:
            return self.on
        if self.in_days is not None:
            return today + timedelta(days=self.in_days)
        assert self.weekday is not None
        return today + timedelta(days=(self.weekday - today.weekday() - 1) % 7 + 1)


def parse_due(word: str) -> Due | None:
    word = word.strip().lower()
    if word == "today":
        return Due(in_days=0)
    if word == "tomorrow":
        return Due(in_days=1)
    for index, name in enumerate(WEEKDAYS):
        if len(word) >= 3 and name.startswith(word):
            return Due(weekday=index)
    days = _DAYS.fullmatch(word)
    if days:
        return Due(in_days=int(days.group(1))) if int(days.group(1)) <= MAX_DAYS else None
    found = _DATE.fullmatch(word)
    if found:
        try:
            return Due(on=date(*(int(g) for g in found.groups())))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Mine:
    pass


@dataclass(frozen=True)
class AllOpen:
    pass


@dataclass(frozen=True)
class MarkDone:
    followup_id: int


Command = Mine | AllOpen | MarkDone | Help


def parse(text: str) -> Command | ParseError:
    verb, rest = verb_and_rest(text)
    if verb in ("", "mine", "me", "my"):
        return Mine()
    if verb in ("all", "open"):
        return AllOpen()
    if verb == "help":
        return Help()
    if verb == "done":
        found = _REF.fullmatch(rest.strip())
        if not found:
            return ParseError("Which one? `/followups done FU-12` (`/followups` lists them).")
        return MarkDone(int(found.group(1)))
    return ParseError(f"I don't know `/followups {verb[:40]}`. Try `/followups help`.")
