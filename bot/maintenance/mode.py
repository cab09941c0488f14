"""Whether maintenance mode is on, read from the executor's runs (the database is the source of
truth): on after a ``maintenance.enable`` run succeeded, until a ``maintenance.disable`` run
succeeds. ``current`` is that state; ``status`` is ``/maintenance status``, with the live queue
depth and the flag file on this host."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from bot.executor.plan import StepFailed
from bot.ops.maintenance import jobs
from bot.ops.maintenance.page import eta_text
from playbooks.models import Playbook
from storage.runs import APPROVED, PENDING, RUNNING, SUCCEEDED, Approval, Run

ENABLE, DISABLE = "maintenance.enable", "maintenance.disable"
_ACTIONS = (ENABLE, DISABLE)


@dataclass(frozen=True)
class ModeState:
    on: bool
    last: Run | None
    """The last successful enable or disable run (None: never switched)."""
    in_flight: Run | None
    """An enable or disable run waiting for approval, approved or running."""
    approvers: tuple[str, ...] = ()

    @property
    def since(self) -> datetime | None:
        return self.last.started_at if self.last else None

    @property
    def by(self) -> str | None:
        return self.last.requested_by if self.last else None

    def param(self, name: str) -> str:
        return str(json.loads(self.last.params).get(name) or "") if self.last else ""


def current(session: Session) -> ModeState:
    last = session.exec(select(Run).where(col(Run.action).in_(_ACTIONS), col(Run.status) == SUCCEEDED)
                        .order_by(col(Run.finished_at).desc(), col(Run.id).desc())).first()
    in_flight = session.exec(select(Run).where(col(Run.action).in_(_ACTIONS),
                                               col(Run.status).in_((PENDING, APPROVED, RUNNING)))
                             .order_by(col(Run.id).desc())).first()
    approvers: tuple[str, ...] = ()
    if last is not None:
        approvers = tuple(session.exec(select(Approval.user_id).where(Approval.run_id == last.id,
                                                                       Approval.decision == "approve")).all())
    return ModeState(on=last is not None and last.action == ENABLE, last=last, in_flight=in_flight,
                     approvers=approvers)


@dataclass(frozen=True)
class Status:
    state: ModeState
    eta: str
    queued: int | None
    queue_problem: str
    flag_present: bool


def status(session: Session, playbook: Playbook) -> Status:
    """The state, with the live queue depth (LLEN of the queue) and whether the flag file exists."""
    settings = playbook.maintenance
    state = current(session)
    eta = ""
    if state.on and state.last is not None and state.last.started_at is not None:
        eta = eta_text(state.param("eta"), state.last.started_at, playbook.settings.zone)
    queued, problem = None, ""
    try:
        queued = jobs.queued(settings.queue)
    except StepFailed as exc:
        problem = str(exc)
    return Status(state, eta, queued, problem, Path(settings.flag_file).exists())
