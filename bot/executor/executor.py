"""The executor as the rest of the bot sees it: units of work around the rules in ``service`` and
``lifecycle``, the worker that runs approved runs, and the scheduler's pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.clock import Clock
from bot.executor import lifecycle, questions, schedules, service, views
from bot.executor.approvals import Directory
from bot.executor.service import Decision, ExecCtx, ExecutorError, RunRequest
from bot.executor.worker import RunWorker
from bot.slack import outbox
from bot.slack.gateway import SlackGateway, SlackRejected, SlackUnavailable
from playbooks.models import Playbook
from storage.db import session_scope
from storage.runs import Run

log = structlog.get_logger(__name__)
T = TypeVar("T")
SIMULTANEOUS = "Someone else (or a double click) did that at the same moment; nothing more changed."


class GatewayDirectory:
    """User-group membership read from Slack at the moment of the check."""

    def __init__(self, gateway: SlackGateway) -> None:
        self._gateway = gateway

    def group_members(self, handle: str) -> frozenset[str]:
        group = self._gateway.user_group(handle, live=True)
        return frozenset(group.users) if group else frozenset()


class Executor:
    def __init__(self, engine: Engine, playbook: Playbook, clock: Clock, gateway: SlackGateway, directory: Directory,
                 worker: RunWorker, kick_delivery: Callable[[], None], redact: Callable[[str], str]) -> None:
        self.engine = engine
        self.playbook = playbook
        self.clock = clock
        self.gateway = gateway
        self.worker = worker
        self.directory = directory
        self._kick = kick_delivery
        self.redact = redact

    def _unit(self, fn: Callable[[ExecCtx], T]) -> T:
        try:
            with session_scope(self.engine) as session:
                result = fn(ExecCtx(session, self.clock(), self.playbook, self.directory, self.redact,
                                    self.worker.deps.lookups))
                queued = bool(session.info.get(outbox.QUEUED))
        except IntegrityError:
            raise ExecutorError(SIMULTANEOUS) from None
        if queued:
            self._kick()
        return result

    def request(self, req: RunRequest) -> str:
        """Record a request; a run that needs no approval starts at once."""
        action = service.action_for(self.playbook, req.action)
        allowed = None
        if action.channels:
            try:
                allowed = frozenset(self.gateway.channel_id(name) for name in action.channels)
            except (SlackRejected, SlackUnavailable, KeyError, LookupError):
                raise ExecutorError(f"Cannot check where `{action.name}` may run ({', '.join(action.channels)}); "
                                    "try again shortly.") from None
        run = self._unit(lambda ctx: service.request(ctx, req, allowed_channel_ids=allowed))
        assert run.id is not None
        if run.approvals_needed == 0:
            self.worker.dispatch(run.id)
            return f"Run #{run.id} `{run.action}` is starting; follow it in the thread."
        return (f"Requested run #{run.id} `{run.action}`: it needs {run.approvals_needed} approval(s) "
                "in the thread before it runs.")

    def retry(self, run_id: int, user_id: str) -> str:
        """"Request again" on a failed run: a new request with the same parameters, through the same
        rules (the person clicking is the requester, approvals are asked afresh)."""
        with session_scope(self.engine) as session:
            previous = session.get(Run, run_id)
            if previous is None:
                raise ExecutorError("That run no longer exists.")
            req = RunRequest(action=previous.action, params=json.loads(previous.params), requested_by=user_id,
                             channel_id=previous.requested_in, source="retry")
        return self.request(req)

    def decide(self, run_id: int, user_id: str, approve: bool) -> str:
        decision: Decision = self._unit(lambda ctx: service.decide(ctx, run_id, user_id, approve))
        if decision.start:
            self.worker.dispatch(run_id)
        return decision.text

    def cancel(self, run_id: int, user_id: str) -> str:
        text = self._unit(lambda ctx: service.request_cancel(ctx, run_id, user_id))
        self.worker.cancel_local(run_id)  # a run in another replica stops at its next heartbeat
        return text

    def answer(self, question_id: int, choice: str, user_id: str) -> str:
        """A click on a button of a question a running run asked (``bot.executor.questions``)."""
        return self._unit(lambda ctx: questions.answer(ctx, question_id, choice, user_id))

    def history(self, prefix: str = "", limit: int = 15) -> str:
        with session_scope(self.engine) as session:
            query = select(Run).order_by(col(Run.id).desc()).limit(limit)
            if prefix:
                query = query.where(col(Run.action).startswith(prefix))
            return self.redact(views.history(session.exec(query).all()))

    def tick(self) -> None:
        """Expire old requests, fail runs whose process died, fire due schedules, start approved runs
        that nobody started (e.g. the process stopped between approval and start)."""
        self._unit(lifecycle.expire_due)
        self._unit(lifecycle.reap_stale)
        for name, schedule, fire_at in list(schedules.due(self.playbook, self.clock())):
            self._fire(name, schedule.action, dict(schedule.parameters), fire_at)
        running_here = set(self.worker.running_here())
        for run_id in self._unit(lifecycle.approved_waiting):
            if run_id not in running_here:
                self.worker.dispatch(run_id)

    def _fire(self, name: str, action: str, params: dict, fire_at: datetime) -> None:
        channel = self.playbook.settings.operations_channel
        try:
            channel_id = self.gateway.channel_id(channel)
        except (SlackRejected, SlackUnavailable, KeyError, LookupError):
            log.warning("schedule_waits_for_channel", schedule=name, channel=channel)
            return

        def fire(ctx: ExecCtx) -> Run | None:
            firing = schedules.claim(ctx.session, name, fire_at)
            if firing is None:
                return None
            req = RunRequest(action=action, params=params, requested_by=f"schedule:{name}", channel_id=channel_id,
                             source="schedule")
            try:
                with ctx.session.begin_nested():
                    run = service.request(ctx, req, allowed_channel_ids=None)
            except ExecutorError as exc:
                outbox.post(ctx.session, ctx.now, channel, ctx.redact(f"❌ Schedule `{name}` could not start "
                                                                      f"`{action}`: {exc}"), purpose=f"schedule:{name}")
                return None
            firing.run_id = run.id
            return run

        run = self._unit(fire)
        if run is not None and run.approvals_needed == 0 and run.id is not None:
            self.worker.dispatch(run.id)
