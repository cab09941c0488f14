"""Runs claimed runs in background threads: steps in order, one progress message kept current,
heartbeats, Cancel, the timeout, and the audit of what happened. Never on the request path."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import structlog

from bot import identity
from bot.executor import lifecycle, questions, service, views
from bot.executor.docker_runner import ExecTrack
from bot.executor.local import LocalRunner
from bot.executor.plan import (
    Answer,
    Cancelled,
    DockerEngine,
    FollowUp,
    Plan,
    ProcessResult,
    ProcessRunner,
    StepContext,
    StepFailed,
)
from bot.executor.service import RunRequest, reply_in_thread
from bot.executor.views import StepState
from bot.ops.registry import build_plan
from bot.refusal import Refusal
from bot.slack import outbox
from bot.work import BOT, Ctx, UnitOfWork
from playbooks.durations import format_duration
from storage.models import OutboundMessage
from storage.runs import CANCELLED, FAILED, SUCCEEDED, Run

log = structlog.get_logger(__name__)
PROGRESS_EVERY = 3.0  # seconds between progress edits: chat.update is rate limited per channel
OUTPUT_LIMIT = 20_000  # characters of (redacted) output kept per run
QUESTION_POLL = 1.0  # seconds between looks for the answer to a question the run asked


@dataclass
class WorkerDeps:
    work: UnitOfWork
    docker: Callable[[threading.Event, float | None, ExecTrack | None], DockerEngine | None] = lambda _c, _d, _t: None
    """A Docker Engine for one run (its Cancel, its deadline, what records its execs), or None."""
    workdir: Path | None = None  # scratch space for runs; a temporary folder by default


class RunWorker:
    def __init__(self, deps: WorkerDeps, pool: ThreadPoolExecutor) -> None:
        self.deps = deps
        self._pool = pool
        self._cancels: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self.identity = identity.this_process()
        """This bot process, written on each run it claims: the next start finds its runs if it dies."""

    def dispatch(self, run_id: int) -> None:
        if self._stopping:  # shutting down: the run stays approved, and the next start's tick starts it
            return
        self._pool.submit(self._safely, run_id)

    def running_here(self) -> list[int]:
        with self._lock:
            return list(self._cancels)

    def stop_all(self) -> None:
        """Shutdown (SIGTERM): stop every run of this process, their processes included; each is
        recorded as interrupted and says so in its thread (the run pool's shutdown waits for them)."""
        self._stopping = True
        for run_id in self.running_here():
            self.cancel_local(run_id)

    def cancel_local(self, run_id: int) -> None:
        with self._lock:
            event = self._cancels.get(run_id)
        if event is not None:
            event.set()

    def _safely(self, run_id: int) -> None:
        try:
            self.execute(run_id)
        except Exception:
            log.exception("run_failed_unexpectedly", run_id=run_id)

    def execute(self, run_id: int) -> str | None:
        """Claim and run; returns the final status, or None when the run was not ours to start."""
        work = self.deps.work
        if self._stopping:  # shutting down: the run stays approved for the next start
            return None
        run = work(lambda ctx: lifecycle.claim(ctx, run_id, self.identity))
        if run is None:
            return None
        action = work.playbook.actions[run.action]
        params = json.loads(run.params)
        approved_plan = json.loads(run.plan)
        requested_by, channel_id = run.requested_by, run.requested_in
        cancel = threading.Event()
        with self._lock:
            self._cancels[run_id] = cancel
        if self._stopping:  # stop_all ran between the claim and here
            cancel.set()
        deadline = time.monotonic() + action.timeout.total_seconds()
        scratch = Path(tempfile.mkdtemp(prefix=f"opsbot-run-{run_id}-", dir=self.deps.workdir))
        recorder = _Recorder(LocalRunner(redact=work.redact, cancel=cancel, deadline=deadline,
                                         track=lambda pid, argv: self._track(run_id, pid, argv)), work.redact)
        progress = _Progress(self, run_id, run.action)
        docker = self.deps.docker(cancel, deadline, partial(self._track_exec, run_id))
        ctx = StepContext(runner=recorder, workdir=scratch, docker=docker, cancel=cancel, deadline=deadline,
                          notes=progress.note)
        ctx.asker = lambda text, choices: self._ask(ctx, run_id, text, choices)
        beat = threading.Thread(target=self._heartbeat, args=(run_id, cancel, progress), daemon=True)
        status, outcome = FAILED, ""
        plan = None
        try:
            plan = build_plan(work.playbook, action, params, work.clock(), work.lookups)
            _check_pinned(plan, approved_plan, work.redact)
            progress.start([s.title for s in plan.steps])
            beat.start()
            for index, step in enumerate(plan.steps):
                ctx.check()
                progress.step(index, "running")
                began = time.monotonic()
                step.action(ctx)
                progress.step(index, "done", time.monotonic() - began)
            status, outcome = SUCCEEDED, plan.summary
        except Exception as exc:
            if time.monotonic() >= deadline:
                status, outcome = FAILED, f"Stopped after the {format_duration(action.timeout)} timeout."
            elif cancel.is_set() and self._stopping:
                status, outcome = FAILED, (f"{lifecycle.INTERRUPTED} the bot was shut down (SIGTERM) while it ran, and "
                                           "stopped what it had running. Check what it left behind before running it "
                                           "again.")
            elif cancel.is_set():
                status, outcome = CANCELLED, "Cancelled."
            elif isinstance(exc, StepFailed | Cancelled):
                outcome = work.redact(str(exc))
            else:  # a bug in an operation: recorded, never shown as a trace in Slack
                log.exception("operation_crashed", run_id=run_id, action=run.action)
                outcome = f"The operation failed unexpectedly ({type(exc).__name__}); the details are in the bot's log."
            progress.fail_current()
        finally:
            cancel.set()  # stops the heartbeat thread and any process still running
            if ctx.docker is not None:
                ctx.docker.close()
            if plan is not None and plan.cleanup is not None:
                try:
                    plan.cleanup()
                except Exception:
                    log.exception("plan_cleanup_failed", run_id=run_id)
            shutil.rmtree(scratch, ignore_errors=True)
            with self._lock:
                self._cancels.pop(run_id, None)
        if beat.is_alive():
            beat.join(timeout=10)
        announce = plan is not None and plan.announce

        def finished(uctx: Ctx) -> None:
            progress.flush(uctx, running=False)
            lifecycle.finish(uctx, run_id, status, outcome, recorder.output(), dict(ctx.produced), announce=announce)

        work(finished)
        if status == SUCCEEDED and plan is not None:
            self._request_follow_ups(run_id, plan.follow_ups, requested_by, channel_id)
        return status

    def _request_follow_ups(self, run_id: int, follow_ups: tuple[FollowUp, ...], requested_by: str,
                            channel_id: str) -> None:
        """Each follow-up is a new request through the same rules; one that is refused is said in the thread."""
        for follow_up in follow_ups:
            req = RunRequest(action=follow_up.action, params=dict(follow_up.params), requested_by=requested_by,
                             channel_id=channel_id, source="follow-up")
            try:
                requested = self.deps.work(lambda ctx, r=req: _follow_up(ctx, r, run_id))
            except Refusal as exc:
                self.deps.work(lambda ctx, a=follow_up.action, why=str(exc): _say(ctx, run_id, a, why))
                continue
            if requested.approvals_needed == 0 and requested.id is not None:
                self.dispatch(requested.id)

    def _ask(self, ctx: StepContext, run_id: int, text: str, choices: Sequence[tuple[str, str]]) -> Answer:
        """Post the question in the thread, then wait for its answer in the database (a click on
        any replica records it), stopping on Cancel or the run's deadline."""
        question_id = self.deps.work(lambda uctx: questions.post(uctx, run_id, text, choices))
        while True:
            ctx.check()
            got = self.deps.work(lambda uctx: questions.answered(uctx.session, question_id))
            if got is not None:
                return got
            ctx.cancel.wait(QUESTION_POLL)

    def _track(self, run_id: int, pid: int, argv: Sequence[str]) -> Callable[[], None]:
        """Record a process the run started (committed before the run waits on it); the returned
        call forgets it once it has ended. A process that cannot be recorded is not left running:
        the runner stops it and the step fails."""
        process = identity.identify(pid)
        if process is None:  # not Linux, or it has already ended and been reaped
            return lambda: None
        return self._record(run_id, lambda ctx: lifecycle.record_process(ctx, run_id, process, argv))

    def _record(self, run_id: int, record: Callable[[Ctx], int]) -> Callable[[], None]:
        try:
            row = self.deps.work(record)
        except Exception as exc:
            log.warning("run_process_not_recorded", run_id=run_id, error=type(exc).__name__)
            raise StepFailed("could not record the process it started in the database, so it was stopped") from None

        def ended() -> None:
            try:
                self.deps.work(lambda ctx: lifecycle.forget_process(ctx, row))
            except Exception:  # the run's finish removes it, or the next start finds it ended
                log.warning("run_process_not_forgotten", run_id=run_id, exc_info=True)

        return ended

    def _track_exec(self, run_id: int, engine: identity.Identity, container: str, mark: str,
                    argv: Sequence[str]) -> Callable[[], None]:
        """A docker exec the run started, recorded by its container and mark (the Engine's address as
        its machine) so that the next start after a crash of the bot can stop it too."""
        return self._record(run_id, lambda ctx: lifecycle.record_process(ctx, run_id, engine, argv,
                                                                       container=container, mark=mark))

    def _heartbeat(self, run_id: int, cancel: threading.Event, progress: _Progress) -> None:
        while not cancel.wait(lifecycle.HEARTBEAT.total_seconds() if progress.idle() else PROGRESS_EVERY):
            try:
                if self.deps.work(lambda ctx: _beat(ctx, run_id, progress)):
                    cancel.set()
            except Exception:
                log.exception("heartbeat_failed", run_id=run_id)


def _check_pinned(plan: Plan, approved: list[str], redact: Callable[[str], str]) -> None:
    if not plan.pinned:
        return
    now = [redact(step.title) for step in plan.steps]
    changed = [title for title in now if title not in approved]
    if now != approved:
        detail = f" Now: {changed[0]}" if changed else ""
        raise StepFailed("What this run would act on changed since it was approved, so nothing was done; "
                         f"request it again to approve what it would do now.{detail}")


def _follow_up(ctx: Ctx, req: RunRequest, of_run: int) -> Run:
    requested = service.request(ctx, req, allowed_channel_ids=None)
    service.audit(ctx, requested, "follow_up_of", BOT, of_run=of_run)
    return requested


def _say(ctx: Ctx, run_id: int, action: str, reason: str) -> None:
    run = ctx.session.get(Run, run_id)
    if run is not None:
        reply_in_thread(ctx, run, f"⚠️ Could not request `{action}`: {reason}")


def _beat(ctx: Ctx, run_id: int, progress: _Progress) -> str | None:
    """Keep the run alive and its progress message current; who asked to cancel it, if anyone."""
    who = lifecycle.heartbeat(ctx, run_id)
    progress.flush(ctx, running=True)
    return who


class _Progress:
    """The run's one progress message: posted when the run starts, then edited at most every few
    seconds (the outbox keeps only the latest pending edit)."""

    def __init__(self, worker: RunWorker, run_id: int, action: str) -> None:
        self._worker = worker
        self.run_id = run_id
        self.action = action
        self.steps: list[StepState] = []
        self.last_note = ""
        self._dirty = False
        self._current: int | None = None
        self._lock = threading.Lock()

    def start(self, titles: Sequence[str]) -> None:
        self.steps = [StepState(t) for t in titles]

        def posted(ctx: Ctx) -> None:
            run = ctx.session.get(Run, self.run_id)
            text, blocks = views.progress(self.run_id, self.action, self.steps, "", running=True)
            message = reply_in_thread(ctx, run, text, blocks)
            if message is not None:
                ctx.session.flush()
                run.progress_message_id = message.id

        self._worker.deps.work(posted)

    def step(self, index: int, state: str, seconds: float | None = None) -> None:
        with self._lock:
            self._current = index
            self.steps[index].state, self.steps[index].seconds = state, seconds
            self.last_note = "" if state == "running" else self.last_note
            self._dirty = True

    def note(self, text: str) -> None:
        with self._lock:
            self.last_note = text[:300]
            self._dirty = True

    def fail_current(self) -> None:
        with self._lock:
            if self._current is not None and self.steps[self._current].state == "running":
                self.steps[self._current].state = "failed"
            self._dirty = True

    def idle(self) -> bool:
        return not self._dirty

    def flush(self, ctx: Ctx, *, running: bool) -> None:
        with self._lock:
            if not self._dirty and running:
                return
            self._dirty = False
            text, blocks = views.progress(self.run_id, self.action, self.steps, self.last_note if running else "",
                                          running=running)
        run = ctx.session.get(Run, self.run_id)
        anchor = ctx.session.get(OutboundMessage, run.progress_message_id) if run and run.progress_message_id else None
        if anchor is not None:
            shown, shown_blocks = ctx.shown(text, blocks)
            outbox.edit(ctx.session, ctx.now, anchor, shown, shown_blocks, purpose=f"run:{self.run_id}:progress")


class _Recorder:
    """Passes calls to the real runner and keeps a bounded, redacted transcript for the audit."""

    def __init__(self, inner: ProcessRunner, redact: Callable[[str], str]) -> None:
        self._inner = inner
        self._redact = redact
        self._parts: list[str] = []
        self._size = 0

    def process(self, argv: Sequence[str], **kwargs: object) -> ProcessResult:
        try:
            result = self._inner.process(argv, **kwargs)  # type: ignore[arg-type]
        except StepFailed as exc:
            self._keep(f"$ {' '.join(argv)}\n{exc}")
            raise
        self._keep(f"$ {' '.join(result.argv)}  (exit {result.returncode}, {result.seconds:.1f} s)\n{result.output}")
        return result

    def pipeline(self, argvs: Sequence[Sequence[str]], **kwargs: object) -> list[ProcessResult]:
        shown = " | ".join(" ".join(a) for a in argvs)
        try:
            results = self._inner.pipeline(argvs, **kwargs)  # type: ignore[arg-type]
        except StepFailed as exc:
            self._keep(f"$ {shown}\n{exc}")
            raise
        codes = ",".join(str(r.returncode) for r in results)
        self._keep(f"$ {shown}  (exit {codes})\n" + "".join(r.output for r in results))
        return results

    def _keep(self, text: str) -> None:
        text = self._redact(text.rstrip()) + "\n"
        if self._size + len(text) > OUTPUT_LIMIT:
            text = text[: max(0, OUTPUT_LIMIT - self._size)]
        self._parts.append(text)
        self._size += len(text)

    def output(self) -> str:
        return "".join(self._parts)
