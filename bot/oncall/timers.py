"""The handoff and user-group timers of each schedule, run by the scheduler tick
(docs/architecture.md, "Timers are data").

Each schedule has one ``oncall_state`` row (created by the first tick that finds it missing; two
replicas racing to create it end with one). ``handoff_at`` is claimed by compare-and-set in the
transaction that sets the user group and queues the handoff DMs, so a handoff is told exactly once
across restarts and replicas; ``drift_check_at`` likewise for putting back a hand-edited group.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from bot.oncall import service
from bot.slack.directory import Directory
from bot.timers import claim
from bot.work import Ctx, UnitOfWork
from storage.oncall import OncallState


class OncallTimers:
    def __init__(self, work: UnitOfWork, directory: Directory) -> None:
        self._work = work
        self._directory = directory

    def run_due(self) -> int:
        """Hand over every schedule that is due, then check the user groups that are due; returns
        how many timers fired."""
        schedules = self._work.playbook.oncall.schedules
        if not schedules:
            return 0
        self._work(_ensure_states, on_conflict=lambda: None)
        due = self._work(lambda ctx: ctx.session.exec(
            select(OncallState.id).where(col(OncallState.handoff_at) <= ctx.now)).all())
        fired = sum(self._work(lambda ctx, i=state_id: _handoff(ctx, i)) for state_id in due)
        checks = self._work(lambda ctx: [(s.id, s.schedule) for s in ctx.session.exec(
            select(OncallState).where(col(OncallState.drift_check_at) <= ctx.now)).all()])
        for state_id, name in checks:
            schedule = schedules.get(name)
            read_at = self._work.clock()
            live = self._directory.group_members(schedule.usergroup) if schedule and schedule.usergroup else frozenset()
            fired += self._work(lambda ctx, i=state_id, members=live, at=read_at: _drift(ctx, i, members, at))
        return fired


def _ensure_states(ctx: Ctx) -> None:
    known = set(ctx.session.exec(select(OncallState.schedule)).all())
    for name in ctx.playbook.oncall.schedules:
        if name not in known:
            ctx.session.add(OncallState(schedule=name, handoff_at=ctx.now, drift_check_at=ctx.now))


def _handoff(ctx: Ctx, state_id: int) -> int:
    state = claim(ctx, OncallState, state_id, "handoff_at")
    if state is None:
        return 0
    service.handoff(ctx, state)
    return 1


def _drift(ctx: Ctx, state_id: int, live: frozenset[str], read_at: datetime) -> int:
    state = claim(ctx, OncallState, state_id, "drift_check_at")
    if state is None:
        return 0
    service.check_group(ctx, state, live, read_at)
    return 1
