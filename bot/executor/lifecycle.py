"""A run from approval to its end: claiming it (once, with its lock), heartbeats, finishing it,
and the scheduler's sweeps (expired requests, runs whose process died, approved runs not started)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.executor import views
from bot.executor.service import audit, expire, lock_holder, lock_refusal, reply_in_thread
from bot.slack import outbox
from bot.work import BOT, Ctx
from storage.runs import APPROVED, CANCELLED, FAILED, PENDING, RUNNING, Run, RunLock

HEARTBEAT = timedelta(seconds=5)
STALE_AFTER = timedelta(minutes=2)  # no heartbeat for this long: the process running it is gone


def claim(ctx: Ctx, run_id: int) -> Run | None:
    """approved -> running, with the lock taken in the same transaction; None if someone else
    claimed it first or it is not approved. A lock held by another run fails this one, loudly."""
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
        .values(status=RUNNING, started_at=ctx.now, heartbeat_at=ctx.now)
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
    stale = ctx.session.exec(
        select(Run).where(col(Run.status) == RUNNING).where(col(Run.heartbeat_at) < ctx.now - STALE_AFTER)
    ).all()
    for run in stale:
        _finish(ctx, run, RUNNING, FAILED, "Interrupted: the bot process running it stopped. Check what it left "
                "behind before running it again.")
    return len(stale)


def approved_waiting(ctx: Ctx) -> list[int]:
    return [r for r in ctx.session.exec(select(Run.id).where(col(Run.status) == APPROVED)).all() if r is not None]
