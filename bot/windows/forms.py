"""What a maintenance window is made of at the boundary: the schedule form's fields and the
``move`` command's new start, validated into typed values or per-field errors (nothing is stored
on an error). Times are typed in the pack's time zone and kept in UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.slack import view_state
from playbooks.durations import parse_duration

MAX_TEXT = 2000
MAX_TITLE = 150
MAX_DURATION = timedelta(days=2)
_START = re.compile(r"\s*([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{1,2}):([0-9]{2})\s*")
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,79}")


@dataclass(frozen=True)
class WindowForm:
    starts_at: datetime  # UTC
    duration: timedelta
    title: str
    activities: tuple[str, ...]
    expected_impact: str
    services: tuple[str, ...]

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + self.duration


def parse_start(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """``YYYY-MM-DD HH:MM`` in ``zone`` as UTC, in the future; ValueError with the reason otherwise."""
    match = _START.fullmatch(text or "")
    if not match:
        raise ValueError("Write the start like 2026-12-06 22:00.")
    year, month, day, hour, minute = (int(g) for g in match.groups())
    try:
        local = datetime(year, month, day, hour, minute, tzinfo=zone)
    except ValueError:
        raise ValueError("That date or time does not exist; write it like 2026-12-06 22:00.") from None
    # A wall time skipped or doubled by a DST change still maps to one instant (fold=0).
    start = local.astimezone(UTC)
    if start <= now:
        raise ValueError("The start is in the past; pick a time ahead.")
    if start - now > timedelta(days=366):
        raise ValueError("Schedule windows at most a year ahead.")
    return start


def parse_duration_text(text: str) -> timedelta:
    try:
        duration = parse_duration((text or "").strip())
    except ValueError:
        raise ValueError("Write the duration like 30m, 1h or 2h30m.") from None
    if not timedelta(minutes=1) <= duration <= MAX_DURATION:
        raise ValueError("A window lasts between 1m and 2d.")
    return duration


def parse_services(text: str) -> tuple[str, ...]:
    """Comma- or space-separated service names, as the alerts' service label carries them."""
    names = [n for n in re.split(r"[,\s]+", text or "") if n]
    bad = [n for n in names if not _SERVICE.fullmatch(n)]
    if bad:
        raise ValueError(f"{bad[0][:40]!r} is not a service name; list names like backend, postgres.")
    return tuple(dict.fromkeys(names))


def parse_form(values: dict[str, Any], zone: ZoneInfo, now: datetime) -> WindowForm | dict[str, str]:
    """The modal's ``state.values`` as a form, or ``{block_id: message}`` for every wrong field."""
    errors: dict[str, str] = {}

    def text(block: str) -> str:
        return view_state.text(values, block).strip()

    def checked(block: str, parse: Any) -> Any:
        try:
            return parse(text(block))
        except ValueError as exc:
            errors[block] = str(exc)
            return None

    starts_at = checked("start", lambda t: parse_start(t, zone, now))
    duration = checked("duration", parse_duration_text)
    title = text("title")
    if not title:
        errors["title"] = "Give the window a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep the title under {MAX_TITLE} characters."
    activities = tuple(line.strip(" -•*\t") for line in text("activities").splitlines() if line.strip(" -•*\t"))
    if len(text("activities")) > MAX_TEXT:
        errors["activities"] = f"Keep the activities under {MAX_TEXT} characters."
    impact = text("impact")
    if len(impact) > MAX_TEXT:
        errors["impact"] = f"Keep the expected impact under {MAX_TEXT} characters."
    services = checked("services", parse_services)
    if errors:
        return errors
    return WindowForm(starts_at=starts_at, duration=duration, title=title, activities=activities,
                      expected_impact=impact, services=services)

