"""A run from approval to its end: claiming it (once, with its lock), heartbeats, the processes it
has running, finishing it, and the scheduler's sweeps (expired requests, runs whose bot process
died and what they left running, approved runs not started)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.executor import views
from bot.executor.service import audit, expire, lock_holder, lock_refusal, reply_in_thread
from bot.identity import Identity, this_host
from bot.slack import outbox
from bot.work import BOT, Ctx
from storage.runs import APPROVED, CANCELLED, FAILED, PENDING, RUNNING, Run, RunLock, RunProcess

HEARTBEAT = timedelta(seconds=5)
STALE_AFTER = timedelta(minutes=2)  # no heartbeat for this long: the process running it is gone


def claim(ctx: Ctx, run_id: int, worker: Identity | None = None) -> Run | None:
    """approved -> running, with the lock taken in the same transaction; None if someone else
    claimed it first or it is not approved. A lock held by another run fails this one, loudly.
    ``worker`` is the bot process that runs it (see ``orphaned``)."""
    run = ctx.session.get(Run, run_id)
    if run is None or run.status != APPROVED:
        return None
    if run.lock is not None:
        try:
            with ctx.session.begin_nested():
                ctx.session.add(RunLock(name=run.lock, run_id=run_id, acquired_at=ctx.now))
        except IntegrityError:
            holder = lock_holder(ctx.session, run.lock)
            if holder is None or holder.id == run_id:
                return None  # released or taken by ourselves meanwhile: the next tick retries
            _finish(ctx, run, APPROVED, FAILED, lock_refusal(run.lock, holder))
            return None
    result = ctx.session.exec(  # type: ignore[call-overload]
        update(Run).where(col(Run.id) == run_id).where(col(Run.status) == APPROVED)
        .values(status=RUNNING, started_at=ctx.now, heartbeat_at=ctx.now, worker=worker.key if worker else None)
    )
    if result.rowcount != 1:
        return None
    ctx.session.refresh(run)
    audit(ctx, run, "started", BOT, plan=json.loads(run.plan))
    return run


def heartbeat(ctx: Ctx, run_id: int) -> str | None:
    """Keep the run alive; returns who asked to cancel it, if anyone."""
    ctx.session.exec(  # type: ignore[call-overload]
        update(Run).where(col(Run.id) == run_id).where(col(Run.status) == RUNNING).values(heartbeat_at=ctx.now)
    )
    run = ctx.session.get(Run, run_id)
    return run.cancel_requested_by if run else None


def finish(ctx: Ctx, run_id: int, status: str, outcome: str, output: str, produced: dict[str, str],
           *, announce: bool = False) -> Run | None:
    # its processes have ended (the worker waits for them): any row left is a record it failed to delete
    ctx.session.exec(delete(RunProcess).where(col(RunProcess.run_id) == run_id))  # type: ignore[call-overload]
    run = ctx.session.get(Run, run_id)
    if run is None or run.status != RUNNING:
        return None  # reaped meanwhile: that outcome stands
    run.output, run.produced = output, json.dumps(produced)
    if status == CANCELLED and run.cancel_requested_by:
        outcome = f"Cancelled by <@{run.cancel_requested_by}>."
    _finish(ctx, run, RUNNING, status, outcome, announce=announce)
    return run


def _finish(ctx: Ctx, run: Run, before: str, status: str, outcome: str, *, announce: bool = False) -> None:
    result = ctx.session.exec(  # type: ignore[call-overload]
        update(Run).where(col(Run.id) == run.id).where(col(Run.status) == before)
        .values(status=status, finished_at=ctx.now, outcome=outcome, output=run.output, produced=run.produced)
    )
    if result.rowcount != 1:
        return
    ctx.session.refresh(run)
    ctx.session.exec(delete(RunLock).where(col(RunLock.run_id) == run.id))  # type: ignore[call-overload]
    audit(ctx, run, status, BOT, outcome=outcome, output=run.output, produced=json.loads(run.produced))
    text, blocks = views.summary(run)
    reply_in_thread(ctx, run, text, blocks)
    notify = status not in ("succeeded", "cancelled") or run.source == "schedule" or announce
    ops_channel = ctx.playbook.settings.operations_channel
    if notify:
        text, blocks = ctx.shown(*(views.failure_notice(run) if status != "succeeded" else views.summary(run)))
        outbox.post(ctx.session, ctx.now, ops_channel, text, blocks, purpose=f"run:{run.id}:outcome")


def expire_due(ctx: Ctx) -> int:
    due = ctx.session.exec(
        select(Run).where(col(Run.status) == PENDING).where(col(Run.expires_at) <= ctx.now)
    ).all()
    for run in due:
        expire(ctx, run)
    return len(due)


def reap_stale(ctx: Ctx) -> int:
    """Runs whose bot process stopped beating on any machine (``orphaned`` finds those of this one
    at once, and stops what they left running)."""
    stale = ctx.session.exec(
        select(Run).where(col(Run.status) == RUNNING).where(col(Run.heartbeat_at) < ctx.now - STALE_AFTER)
    ).all()
    for run in stale:
        _finish(ctx, run, RUNNING, FAILED, f"{INTERRUPTED} the bot process running it stopped. Check what it left "
                "behind before running it again.")
    return len(stale)


# -- processes -------------------------------------------------------------------------------------

INTERRUPTED = "Interrupted:"


def record_process(ctx: Ctx, run_id: int, process: Identity, argv: Sequence[str], *, container: str | None = None,
                   mark: str | None = None) -> int:
    """A process group (or a docker exec: ``container`` and ``mark``) the run has started, committed
    before the run waits on it."""
    row = RunProcess(run_id=run_id, machine=process.machine, pid=process.pid, start=process.start,
                     container=container, mark=mark,
                     command=ctx.redact(shlex.join(str(a) for a in argv))[:500], started_at=ctx.now)
    ctx.session.add(row)
    ctx.session.flush()
    assert row.id is not None
    return row.id


def forget_process(ctx: Ctx, row_id: int) -> None:
    ctx.session.exec(delete(RunProcess).where(col(RunProcess.id) == row_id))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Left:
    """A process an orphaned run left: a process group here, or a docker exec (``container``)."""

    row_id: int
    process: Identity
    command: str
    container: str | None = None
    mark: str | None = None


@dataclass(frozen=True)
class Orphan:
    """A run whose bot process on this machine is gone, and the processes it left."""

    run_id: int
    worker: str | None
    processes: tuple[Left, ...]


def orphaned(ctx: Ctx) -> list[Orphan]:
    """Runs started by a bot process of this machine that no longer exists (killed, crashed, or the
    machine rebooted), still running or with processes recorded. Other machines' runs are theirs
    to find (and ``reap_stale`` marks them interrupted after two minutes without a heartbeat)."""
    host = this_host()
    running = ctx.session.exec(select(Run).where(col(Run.status) == RUNNING)
                               .where(col(Run.worker).is_not(None))).all()
    recorded = ctx.session.exec(select(RunProcess).order_by(col(RunProcess.id))).all()
    workers = {run.id: run.worker for run in running}
    for run_id in {row.run_id for row in recorded} - set(workers):
        run = ctx.session.get(Run, run_id)
        workers[run_id] = run.worker if run else None
    found = []
    for run_id, worker in workers.items():
        who = Identity.parse(worker) if worker else None
        if who is not None and (who.host != host or who.alive()):
            continue  # another machine's, or its bot process is alive
        rows = tuple(Left(row.id, Identity(row.machine, row.pid, row.start), row.command, row.container, row.mark)
                     for row in recorded if row.run_id == run_id and row.id is not None
                     and (row.container is not None or row.machine.split("/", 1)[0] == host))
        if who is None and not rows:
            continue  # claimed by a bot that recorded no identity (not Linux): reap_stale's to judge
        found.append(Orphan(run_id, worker, rows))
    return found


def interrupted(ctx: Ctx, orphan: Orphan, stopped: Sequence[str]) -> None:
    """The orphan's processes have been stopped: forget them, and finish the run as interrupted (or,
    if ``reap_stale`` already did, say in its thread what was stopped)."""
    rows = [left.row_id for left in orphan.processes]
    ctx.session.exec(delete(RunProcess).where(col(RunProcess.id).in_(rows)))  # type: ignore[call-overload]
    run = ctx.session.get(Run, orphan.run_id)
    if run is None:
        return
    what = (f" It stopped what the run had left running: {', '.join(f'`{c}`' for c in stopped)}." if stopped
            else " Nothing the run started was still running.")
    if run.status == RUNNING and run.worker == orphan.worker:
        _finish(ctx, run, RUNNING, FAILED, f"{INTERRUPTED} the bot process running it stopped (killed or crashed), "
                f"and the bot found this when it started again.{what} Check what it left behind before running it "
                "again.")
    elif stopped:
        reply_in_thread(ctx, run, f"Run #{run.id} was interrupted.{what}")


def approved_waiting(ctx: Ctx) -> list[int]:
    return [r for r in ctx.session.exec(select(Run.id).where(col(Run.status) == APPROVED)).all() if r is not None]
