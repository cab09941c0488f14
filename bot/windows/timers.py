"""Maintenance windows' timers, run by the scheduler tick (docs/architecture.md, "Timers are data").

Each pass first creates the standing windows' occurrences that came within the horizon (unique by
standing key and planned start, so two replicas create each once), then fires every due timer:
claimed by a conditional update on (id, pending, due time) in the same transaction that queues its
messages, so a notice goes out exactly once across restarts and replicas. After downtime, what
fell due meanwhile fires once on the first pass."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select

from bot.windows import service
from bot.windows.standing import occurrences
from bot.work import Ctx, UnitOfWork
from storage.windows import DROPPED, FIRED, PENDING, SCHEDULED, MaintenanceTimer, MaintenanceWindow


class WindowTimers:
    def __init__(self, work: UnitOfWork) -> None:
        self._work = work

    def run_due(self) -> int:
        """Create owed standing occurrences, then fire what is due; returns how many timers fired."""
        self.add_standing()
        due = self._work(lambda ctx: ctx.session.exec(
            select(MaintenanceTimer.id, MaintenanceTimer.due_at, MaintenanceTimer.window_id)
            .where(MaintenanceTimer.state == PENDING).where(col(MaintenanceTimer.due_at) <= ctx.now)
            .order_by(col(MaintenanceTimer.due_at), col(MaintenanceTimer.id))).all())
        return sum(self._work(lambda ctx, t=timer_id, d=due_at, w=window_id: _claimed(ctx, t, d, w))
                   for timer_id, due_at, window_id in due if timer_id is not None)

    def add_standing(self) -> int:
        settings = self._work.playbook.windows
        now = self._work.clock()
        created = 0
        for rule in settings.standing:
            starts = list(occurrences(rule, settings.zone, now, now + settings.horizon))
            if not starts:
                continue
            known = set(self._work(lambda ctx, r=rule, first=starts[0]: ctx.session.exec(
                select(MaintenanceWindow.occurrence_at).where(MaintenanceWindow.standing_key == r.key)
                .where(col(MaintenanceWindow.occurrence_at) >= first)).all()))
            for start in starts:
                if start in known:
                    continue
                # another replica may create it first: the unique (standing key, occurrence) refuses ours
                if self._work(lambda ctx, r=rule, s=start: service.add_standing(ctx, r, s) is not None,
                              on_conflict=lambda: False):
                    created += 1
        return created


def _claimed(ctx: Ctx, timer_id: int, due_at: object, window_id: int) -> int:
    """The window's row is locked first, as cancel and move lock it (their UPDATE) before its
    timers: a notice fired while the window is being cancelled is either seen by the cancel
    (which then sends the cancellation notice) or not sent at all, and the two never deadlock."""
    window = ctx.session.exec(select(MaintenanceWindow).where(MaintenanceWindow.id == window_id)
                              .with_for_update()).first()
    if window is None or window.status != SCHEDULED:  # nothing left to do for it
        ctx.session.exec(update(MaintenanceTimer).where(col(MaintenanceTimer.id) == timer_id)  # type: ignore[call-overload]
                         .where(col(MaintenanceTimer.state) == PENDING).values(state=DROPPED))
        return 0
    claim = ctx.session.exec(  # type: ignore[call-overload]
        update(MaintenanceTimer).where(col(MaintenanceTimer.id) == timer_id)
        .where(col(MaintenanceTimer.state) == PENDING).where(col(MaintenanceTimer.due_at) == due_at)
        .values(state=FIRED, fired_at=ctx.now).execution_options(synchronize_session=False))
    if claim.rowcount != 1:
        return 0
    timer = ctx.session.get(MaintenanceTimer, timer_id)
    assert timer is not None
    ctx.session.refresh(timer)
    if service.superseded(ctx, window, timer):
        timer.state = DROPPED
        ctx.session.add(timer)
        return 0
    service.fire(ctx, window, timer)
    return 1
