"""The executor as the rest of the bot sees it: its entry points (each one unit of work around the
rules in ``service``, ``lifecycle`` and ``questions``), the worker that runs approved runs, and the
scheduler's pass."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import structlog
from sqlmodel import col, select

from bot.executor import lifecycle, processes, questions, schedules, service, views
from bot.executor.docker_runner import DockerRunner
from bot.executor.local import KILL_GRACE
from bot.executor.service import Decision, RunRequest
from bot.executor.worker import RunWorker
from bot.refusal import Refusal
from bot.slack import outbox
from bot.slack.gateway import SlackGateway, SlackRejected, SlackUnavailable
from bot.work import Ctx, UnitOfWork
from storage.runs import Run

log = structlog.get_logger(__name__)


class Executor:
    def __init__(self, work: UnitOfWork, gateway: SlackGateway, worker: RunWorker) -> None:
        self.work = work
        self.playbook = work.playbook
        self.gateway = gateway
        self.worker = worker

    def request(self, req: RunRequest) -> str:
        """Record a request; a run that needs no approval starts at once."""
        action = service.action_for(self.playbook, req.action)
        allowed = None
        if action.channels:
            try:
                allowed = frozenset(self.gateway.channel_id(name) for name in action.channels)
            except (SlackRejected, SlackUnavailable, KeyError, LookupError):
                raise Refusal(f"Cannot check where `{action.name}` may run ({', '.join(action.channels)}); "
                              "try again shortly.") from None
        run = self.work(lambda ctx: service.request(ctx, req, allowed_channel_ids=allowed))
        assert run.id is not None
        if run.approvals_needed == 0:
            self.worker.dispatch(run.id)
            return f"Run #{run.id} `{run.action}` is starting; follow it in the thread."
        return (f"Requested run #{run.id} `{run.action}`: it needs {run.approvals_needed} approval(s) "
                "in the thread before it runs.")

    def retry(self, run_id: int, user_id: str) -> str:
        """"Request again" on a failed run: a new request with the same parameters, through the same
        rules (the person clicking is the requester, approvals are asked afresh)."""

        def again(ctx: Ctx) -> RunRequest:
            previous = ctx.session.get(Run, run_id)
            if previous is None:
                raise Refusal("That run no longer exists.")
            return RunRequest(action=previous.action, params=json.loads(previous.params), requested_by=user_id,
                              channel_id=previous.requested_in, source="retry")

        return self.request(self.work(again))

    def decide(self, run_id: int, user_id: str, approve: bool) -> str:
        decision: Decision = self.work(lambda ctx: service.decide(ctx, run_id, user_id, approve))
        if decision.start:
            self.worker.dispatch(run_id)
        return decision.text

    def cancel(self, run_id: int, user_id: str) -> str:
        text = self.work(lambda ctx: service.request_cancel(ctx, run_id, user_id))
        self.worker.cancel_local(run_id)  # a run in another replica stops at its next heartbeat
        return text

    def answer(self, question_id: int, choice: str, user_id: str) -> str:
        """A click on a button of a question a running run asked (``bot.executor.questions``)."""
        return self.work(lambda ctx: questions.answer(ctx, question_id, choice, user_id))

    def history(self, prefix: str = "", limit: int = 15) -> str:
        def recent(ctx: Ctx) -> str:
            query = select(Run).order_by(col(Run.id).desc()).limit(limit)
            if prefix:
                query = query.where(col(Run.action).startswith(prefix))
            return ctx.redact(views.history(ctx.session.exec(query).all()))

        return self.work(recent)

    def tick(self) -> None:
        """Expire old requests, stop what runs of a dead bot process on this machine left running
        and fail those runs, fail runs whose process died elsewhere, fire due schedules, start
        approved runs that nobody started (e.g. the process stopped between approval and start)."""
        self.work(lifecycle.expire_due)
        self.stop_orphans()
        self.work(lifecycle.reap_stale)
        for name, schedule, fire_at in list(schedules.due(self.playbook, self.work.clock())):
            self._fire(name, schedule.action, dict(schedule.parameters), fire_at)
        running_here = set(self.worker.running_here())
        for run_id in self.work(lifecycle.approved_waiting):
            if run_id not in running_here:
                self.worker.dispatch(run_id)

    def stop_orphans(self) -> int:
        """Runs whose bot process on this machine is gone (SIGKILL, a crash): their recorded process
        groups are stopped (only while PID and start time still match: a reused PID is never hit),
        outside any transaction, then each run is recorded as interrupted with a message in its
        thread. Returns how many runs were found."""
        found = self.work(lifecycle.orphaned)
        for orphan in found:
            stopped = [left.command for left in orphan.processes if self._stop(left)]
            if stopped:
                log.warning("orphaned_processes_stopped", run_id=orphan.run_id, stopped=stopped)
            self.work(lambda ctx, o=orphan, s=stopped: lifecycle.interrupted(ctx, o, s))
        return len(found)

    def _stop(self, left: lifecycle.Left) -> bool:
        if left.container is None:
            return processes.stop_group(left.process, KILL_GRACE)
        docker = self.worker.deps.docker(threading.Event(), None, None)
        if not isinstance(docker, DockerRunner) or docker.base_url != left.process.machine or not left.mark:
            return False  # recorded against another Docker Engine than the one configured now
        try:
            return docker.stop_marked(left.container, left.mark)
        finally:
            docker.close()

    def _fire(self, name: str, action: str, params: dict, fire_at: datetime) -> None:
        channel = self.playbook.settings.operations_channel
        try:
            channel_id = self.gateway.channel_id(channel)
        except (SlackRejected, SlackUnavailable, KeyError, LookupError):
            log.warning("schedule_waits_for_channel", schedule=name, channel=channel)
            return

        def fire(ctx: Ctx) -> Run | None:
            firing = schedules.claim(ctx.session, name, fire_at)
            if firing is None:
                return None
            req = RunRequest(action=action, params=params, requested_by=f"schedule:{name}", channel_id=channel_id,
                             source="schedule")
            try:
                with ctx.session.begin_nested():
                    run = service.request(ctx, req, allowed_channel_ids=None)
            except Refusal as exc:
                outbox.post(ctx.session, ctx.now, channel, ctx.redact(f"❌ Schedule `{name}` could not start "
                                                                      f"`{action}`: {exc}"), purpose=f"schedule:{name}")
                return None
            firing.run_id = run.id
            return run

        run = self.work(fire)
        if run is not None and run.approvals_needed == 0 and run.id is not None:
            self.worker.dispatch(run.id)
