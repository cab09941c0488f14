"""Owed emergency approvals, reminded by the scheduler tick until recorded (DESIGN rule 3).

The due time lives on the request (``remind_at``). Each reminder is claimed by a compare-and-set
on that due time in the same transaction that queues the reminder and plans the next one, so it
goes out once per interval across restarts and replicas; after downtime, one overdue reminder goes
out and the next is planned from now."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot.changes import service
from bot.clock import Clock
from bot.executor.approvals import Directory
from playbooks.models import Playbook
from storage.changes import ChangeRequest
from storage.db import session_scope


class ChangeReminders:
    def __init__(self, engine: Engine, playbook: Playbook, clock: Clock, directory: Directory,
                 kick_delivery: Callable[[], None] | None = None) -> None:
        self._engine = engine
        self._playbook = playbook
        self._clock = clock
        self._directory = directory
        self._kick = kick_delivery

    def run_due(self) -> int:
        """Send every due reminder once; returns how many went out."""
        now = self._clock()
        with session_scope(self._engine) as session:
            due = session.exec(select(ChangeRequest.id).where(col(ChangeRequest.approval_owed).is_(True))
                               .where(col(ChangeRequest.remind_at) <= now)).all()
        sent = sum(self._claimed(change_id) for change_id in due if change_id is not None)
        if sent and self._kick:
            self._kick()
        return sent

    def _claimed(self, change_id: int) -> int:
        now = self._clock()
        with session_scope(self._engine) as session:
            cr = session.get(ChangeRequest, change_id)
            if cr is None or not cr.approval_owed or cr.remind_at is None or cr.remind_at > now:
                return 0
            claim = session.exec(  # type: ignore[call-overload]
                update(ChangeRequest).where(col(ChangeRequest.id) == change_id)
                .where(col(ChangeRequest.remind_at) == cr.remind_at).where(col(ChangeRequest.approval_owed).is_(True))
                .values(remind_at=None).execution_options(synchronize_session=False))
            if claim.rowcount != 1:
                session.rollback()
                return 0
            service.remind(service.Ctx(session, now, self._playbook, self._directory), cr)
        return 1
