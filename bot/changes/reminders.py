"""Owed emergency approvals, reminded by the scheduler tick until recorded (docs/architecture.md,
"Timers are data").

The due time lives on the request (``remind_at``). Each reminder is claimed by a compare-and-set
on that due time in the same transaction that queues the reminder and plans the next one, so it
goes out once per interval across restarts and replicas; after downtime, one overdue reminder goes
out and the next is planned from now."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select

from bot.changes import service
from bot.work import Ctx, UnitOfWork
from storage.changes import ChangeRequest


class ChangeReminders:
    def __init__(self, work: UnitOfWork) -> None:
        self._work = work

    def run_due(self) -> int:
        """Send every due reminder once; returns how many went out."""
        due = self._work(lambda ctx: ctx.session.exec(
            select(ChangeRequest.id).where(col(ChangeRequest.approval_owed).is_(True))
            .where(col(ChangeRequest.remind_at) <= ctx.now)).all())
        return sum(self._work(lambda ctx, c=change_id: _claimed(ctx, c)) for change_id in due if change_id is not None)


def _claimed(ctx: Ctx, change_id: int) -> int:
    cr = ctx.session.get(ChangeRequest, change_id)
    if cr is None or not cr.approval_owed or cr.remind_at is None or cr.remind_at > ctx.now:
        return 0
    claim = ctx.session.exec(  # type: ignore[call-overload]
        update(ChangeRequest).where(col(ChangeRequest.id) == change_id)
        .where(col(ChangeRequest.remind_at) == cr.remind_at).where(col(ChangeRequest.approval_owed).is_(True))
        .values(remind_at=None).execution_options(synchronize_session=False))
    if claim.rowcount != 1:
        return 0
    service.remind(ctx, cr)
    return 1
