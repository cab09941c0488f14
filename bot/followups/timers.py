"""The owners' reminders, run by the scheduler tick (docs/architecture.md, "Timers are data").

``remind_at`` (the due date, at the pack's ``remind_at`` time) and ``overdue_at`` (the day after)
are each claimed by a conditional update on their value in the transaction that queues the direct
message, so each goes out once across restarts and replicas; one that fell due while the bot was
down goes out once at the first tick after start-up.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import or_
from sqlmodel import col, select

from bot.followups import service
from bot.timers import claim
from bot.work import Ctx, UnitOfWork
from storage.followups import OPEN, FollowUp


class FollowUpTimers:
    def __init__(self, work: UnitOfWork) -> None:
        self._work = work

    def run_due(self) -> int:
        """Send every due reminder once; returns how many went out."""
        due = self._work(lambda ctx: ctx.session.exec(
            select(FollowUp.id).where(FollowUp.status == OPEN)
            .where(or_(col(FollowUp.remind_at) <= ctx.now, col(FollowUp.overdue_at) <= ctx.now))
            .order_by(col(FollowUp.id))).all())
        fired = 0
        for followup_id in due:
            fired += self._work(lambda ctx, i=followup_id: _claimed(ctx, i, "remind_at", _due))
            fired += self._work(lambda ctx, i=followup_id: _claimed(ctx, i, "overdue_at", _overdue))
        return fired


def _claimed(ctx: Ctx, followup_id: int, column: str, step: Callable[[Ctx, FollowUp], None]) -> int:
    followup = claim(ctx, FollowUp, followup_id, column, wanted=lambda f: f.status == OPEN)
    if followup is None:
        return 0
    step(ctx, followup)
    return 1


def _due(ctx: Ctx, followup: FollowUp) -> None:
    if followup.overdue_at is not None and followup.overdue_at <= ctx.now:
        return  # down past the due day too: the overdue message says it all
    service.remind(ctx, followup, overdue=False)


def _overdue(ctx: Ctx, followup: FollowUp) -> None:
    service.remind(ctx, followup, overdue=True)
