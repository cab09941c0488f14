"""Cron playbooks (docs/architecture.md, "Timers are data"): each firing is claimed once by
inserting its (schedule, fire time) row, so a restart or a second replica never runs it twice, and
a firing missed while the bot was down runs late (within a grace period) rather than never."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from playbooks.actions import Schedule
from playbooks.models import Playbook
from storage.runs import ScheduleFiring

GRACE = timedelta(minutes=30)


def latest_firing(schedule: Schedule, zone: tzinfo, now: datetime, grace: timedelta = GRACE) -> datetime | None:
    """The last time the schedule fell due in (now - grace, now]; several missed firings run once."""
    return latest_fire_time(schedule.cron, zone, now, grace)


def latest_fire_time(cron: str, zone: tzinfo, now: datetime, grace: timedelta) -> datetime | None:
    """The last time ``cron`` fell due in (now - grace, now] (the weekly report digest uses it too)."""
    trigger = CronTrigger.from_crontab(cron, timezone=zone)
    fire = trigger.get_next_fire_time(None, now - grace + timedelta(microseconds=1))
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return latest


def due(playbook: Playbook, now: datetime) -> Iterator[tuple[str, Schedule, datetime]]:
    for name, schedule in playbook.schedules.items():
        fire_at = latest_firing(schedule, playbook.settings.zone, now)
        if fire_at is not None:
            yield name, schedule, fire_at


def claim(session: Session, name: str, fire_at: datetime) -> ScheduleFiring | None:
    """The firing row if this caller claimed it; None if it was claimed before."""
    firing = ScheduleFiring(schedule=name, fire_at=fire_at)
    try:
        with session.begin_nested():
            session.add(firing)
    except IntegrityError:
        return None
    return firing
