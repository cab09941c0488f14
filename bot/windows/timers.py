"""Maintenance windows' timers, run by the scheduler tick (DESIGN rule 3).

Each pass first creates the standing windows' occurrences that came within the horizon (unique by
standing key and planned start, so two replicas create each once), then fires every due timer:
claimed by a conditional update on (id, pending, due time) in the same transaction that queues its
messages, so a notice goes out exactly once across restarts and replicas. After downtime, what
fell due meanwhile fires once on the first pass."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.clock import Clock
from bot.windows import service
from bot.windows.standing import occurrences
from playbooks.models import Playbook
from storage.db import session_scope
from storage.maintenance import DROPPED, FIRED, PENDING, SCHEDULED, MaintenanceTimer, MaintenanceWindow

log = structlog.get_logger(__name__)


class WindowTimers:
    def __init__(self, engine: Engine, playbook: Playbook, clock: Clock,
                 kick_delivery: Callable[[], None] | None = None) -> None:
        self._engine = engine
        self._playbook = playbook
        self._clock = clock
        self._kick = kick_delivery

    def run_due(self) -> int:
        """Create owed standing occurrences, then fire what is due; returns how many timers fired."""
        self.add_standing()
        now = self._clock()
        with session_scope(self._engine) as session:
            due = session.exec(select(MaintenanceTimer.id, MaintenanceTimer.due_at, MaintenanceTimer.window_id)
                               .where(MaintenanceTimer.state == PENDING).where(col(MaintenanceTimer.due_at) <= now)
                               .order_by(col(MaintenanceTimer.due_at), col(MaintenanceTimer.id))).all()
        fired = sum(self._claimed(timer_id, due_at, window_id) for timer_id, due_at, window_id in due
                    if timer_id is not None)
        if fired and self._kick:
            self._kick()
        return fired

    def add_standing(self) -> int:
        settings = self._playbook.windows
        now = self._clock()
        created = 0
        for rule in settings.standing:
            starts = list(occurrences(rule, settings.zone, now, now + settings.horizon))
            if not starts:
                continue
            with session_scope(self._engine) as session:
                known = set(session.exec(select(MaintenanceWindow.occurrence_at)
                                         .where(MaintenanceWindow.standing_key == rule.key)
                                         .where(col(MaintenanceWindow.occurrence_at) >= starts[0])).all())
            for start in starts:
                if start in known:
                    continue
                try:
                    with session_scope(self._engine) as session:
                        service.add_standing(service.Ctx(session, now, self._playbook), rule, start)
                    created += 1
                except IntegrityError:  # another replica created it first
                    log.debug("standing_window_exists", key=rule.key, start=start.isoformat())
        return created

    def _claimed(self, timer_id: int, due_at: object, window_id: int) -> int:
        """The window's row is locked first, as cancel and move lock it (their UPDATE) before its
        timers: a notice fired while the window is being cancelled is either seen by the cancel
        (which then sends the cancellation notice) or not sent at all, and the two never deadlock."""
        now = self._clock()
        with session_scope(self._engine) as session:
            window = session.exec(select(MaintenanceWindow).where(MaintenanceWindow.id == window_id)
                                  .with_for_update()).first()
            if window is None or window.status != SCHEDULED:  # nothing left to do for it
                session.exec(update(MaintenanceTimer).where(col(MaintenanceTimer.id) == timer_id)  # type: ignore[call-overload]
                             .where(col(MaintenanceTimer.state) == PENDING).values(state=DROPPED))
                return 0
            claim = session.exec(  # type: ignore[call-overload]
                update(MaintenanceTimer).where(col(MaintenanceTimer.id) == timer_id)
                .where(col(MaintenanceTimer.state) == PENDING).where(col(MaintenanceTimer.due_at) == due_at)
                .values(state=FIRED, fired_at=now).execution_options(synchronize_session=False))
            if claim.rowcount != 1:
                session.rollback()
                return 0
            timer = session.get(MaintenanceTimer, timer_id)
            assert timer is not None
            session.refresh(timer)
            ctx = service.Ctx(session, now, self._playbook)
            if service.superseded(ctx, window, timer):
                timer.state = DROPPED
                session.add(timer)
                return 0
            service.fire(ctx, window, timer)
        return 1
