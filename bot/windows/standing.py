"""When the playbook's standing windows fall: daily at a time, weekly on a weekday, monthly on the
first such weekday of the month — wall-clock times in the pack's time zone, returned in UTC."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from playbooks.windows import WEEKDAYS, StandingWindow


def _on_day(window: StandingWindow, day: date) -> bool:
    if window.every == "daily":
        return True
    if WEEKDAYS[day.weekday()] != window.day:
        return False
    return window.every == "weekly" or day.day <= 7  # monthly: the first one of the month


def occurrences(window: StandingWindow, zone: ZoneInfo, after: datetime, until: datetime) -> Iterator[datetime]:
    """Starts (UTC) with ``after < start <= until``, in order."""
    day = after.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        if _on_day(window, day):
            start = datetime.combine(day, window.start_time, tzinfo=zone).astimezone(UTC)
            if after < start <= until:
                yield start
        day += timedelta(days=1)


def next_occurrence(window: StandingWindow, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first start after ``after`` (within 40 days, which covers every first weekday of a month)."""
    return next(occurrences(window, zone, after, after + timedelta(days=40)), None)
