"""The rules of guarded execution (docs/architecture.md, "Guarded execution"). Every path into a run comes through here:
slash commands, buttons, schedules and the scheduler's retries. Each state change is a
compare-and-set on ``Run.status`` committed with its audit record and its queued Slack messages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.executor import views
from bot.executor.approvals import Approver, check_approver
from bot.executor.plan import StepFailed
from bot.incidents import queries as incident_queries
from bot.ops.registry import build_plan
from bot.refusal import Refusal
from bot.slack import outbox
from bot.slack.people import who
from bot.work import BOT, Ctx
from playbooks.actions import Action, ParameterError, ParamValue, resolve_parameters
from playbooks.models import Playbook
from storage.models import OutboundMessage
from storage.runs import (
    APPROVED,
    DENIED,
    EXPIRED,
    PENDING,
    RUNNING,
    Approval,
    AuditRecord,
    Run,
    RunLock,
)


@dataclass(frozen=True)
class RunRequest:
    action: str
    params: Mapping[str, ParamValue]
    requested_by: str
    channel_id: str
    source: str  # command | retry (a button on a finished run) | schedule | follow-up (of an approved run)


def audit(ctx: Ctx, run: Run, event: str, actor: str, **detail: object) -> None:
    assert run.id is not None
    ctx.session.add(AuditRecord(run_id=run.id, at=ctx.now, event=event, actor=actor,
                                detail=json.dumps(detail, default=str) if detail else ""))


def action_for(playbook: Playbook, name: str) -> Action:
    action = playbook.actions.get(name)
    if action is None:
        known = ", ".join(f"`{a}`" for a in sorted(playbook.actions)) or "none"
        raise Refusal(f"There is no action `{name}`. Declared actions: {known}.")
    return action


def lock_holder(session: Session, lock: str | None) -> Run | None:
    if lock is None:
        return None
    held = session.get(RunLock, lock)
    return session.get(Run, held.run_id) if held else None


def request(ctx: Ctx, req: RunRequest, *, allowed_channel_ids: frozenset[str] | None) -> Run:
    """Record a request and post its plan. ``allowed_channel_ids`` are the action's channels
    resolved to IDs (None: anywhere)."""
    action = action_for(ctx.playbook, req.action)
    if action.unavailable:
        raise Refusal(f"`{action.name}` is unavailable here: {action.unavailable}")
    placed_by_bot = req.source in ("schedule", "follow-up")
    if allowed_channel_ids is not None and not placed_by_bot and req.channel_id not in allowed_channel_ids:
        raise Refusal(f"`{action.name}` may only be requested in {', '.join(action.channels)}.")
    try:
        params = resolve_parameters(action, dict(req.params))
    except ParameterError as exc:
        raise Refusal(str(exc)) from None
    holder = lock_holder(ctx.session, action.lock)
    if holder is not None:
        raise Refusal(lock_refusal(action.lock, holder))
    try:
        plan = build_plan(ctx.playbook, action, params, ctx.now, ctx.lookups)
    except (StepFailed, LookupError, ValueError) as exc:
        raise Refusal(ctx.redact(f"`{action.name}` cannot run: {exc}")) from None
    titles = [ctx.redact(title) for title in plan.describe()]
    incident = incident_queries.by_channel(ctx.session, req.channel_id)
    needed = action.approvals_needed
    run = Run(
        action=action.name, params=json.dumps(params), risk=action.risk, approvals_needed=needed,
        requested_by=req.requested_by, requested_in=req.channel_id, incident_id=incident.id if incident else None,
        source=req.source, status=PENDING if needed else APPROVED, plan=json.dumps(titles),
        lock=action.lock, requested_at=ctx.now,
        expires_at=ctx.now + action.approvals.expire_after if needed else None,
    )
    ctx.session.add(run)
    ctx.session.flush()
    audit(ctx, run, "requested", req.requested_by, params={k: ctx.redact(str(v)) for k, v in params.items()},
          plan=titles, source=req.source)
    text, blocks = ctx.shown(*views.request_message(run, action, titles))
    request_msg = outbox.post(ctx.session, ctx.now, req.channel_id, text, blocks, purpose=f"run:{run.id}:request")
    ctx.session.flush()
    run.request_message_id = request_msg.id
    if needed:
        text, blocks = views.approval_prompt(run, action, [], ctx.now)
        prompt = outbox.reply(ctx.session, ctx.now, request_msg, text, blocks, purpose=f"run:{run.id}:approval")
        ctx.session.flush()
        run.approval_message_id = prompt.id
    return run


@dataclass(frozen=True)
class Decision:
    text: str  # for the person who clicked
    run_id: int
    start: bool  # the run is now approved: dispatch it


def decide(ctx: Ctx, run_id: int, user_id: str, approve: bool) -> Decision:
    """An Approve or Deny click. Checked on every click, against the declaration as it is now."""
    run = ctx.session.get(Run, run_id)
    if run is None:
        raise Refusal("That run no longer exists; nothing changed.")
    if run.status != PENDING:
        raise Refusal(f"Run #{run.id} is already {run.status}; nothing changed.")
    action = action_for(ctx.playbook, run.action)
    if run.expires_at is not None and ctx.now >= run.expires_at:
        expire(ctx, run)
        return Decision(f"Run #{run.id}'s approval window had passed; it expired and will not run.", run_id, False)
    if approve or user_id != run.requested_by:  # a requester may withdraw their own request
        roles = incident_queries.roles(ctx.session, run.incident_id) if run.incident_id else {}
        check_approver(action, Approver(user_id, run.requested_by, roles), ctx.directory)
    if ctx.session.exec(select(Approval).where(Approval.run_id == run_id, Approval.user_id == user_id)).first():
        raise Refusal(f"You already answered run #{run.id}; nothing changed.")
    ctx.session.add(Approval(run_id=run_id, user_id=user_id, decision="approve" if approve else "deny", at=ctx.now))
    ctx.session.flush()  # the unique (run, user) key refuses a simultaneous second click
    approvers = list(ctx.session.exec(
        select(Approval.user_id).where(Approval.run_id == run_id, Approval.decision == "approve")
        .order_by(col(Approval.id))
    ).all())
    if not approve:
        _transition(ctx, run, PENDING, DENIED)
        run.finished_at, run.outcome = ctx.now, f"Denied by <@{user_id}>."
        audit(ctx, run, "denied", user_id)
        _close_prompt(ctx, run, f"🚫 Denied by <@{user_id}>. Nothing will run.")
        return Decision(f"You denied run #{run.id}; it will not run.", run_id, start=False)
    audit(ctx, run, "approved", user_id, approvals=len(approvers), needed=run.approvals_needed)
    if len(approvers) < run.approvals_needed:
        _refresh_prompt(ctx, run, action, approvers)
        left = run.approvals_needed - len(approvers)
        return Decision(f"Approved. Run #{run.id} still needs {left} more approval(s).", run_id, start=False)
    _transition(ctx, run, PENDING, APPROVED)
    names = ", ".join(f"<@{u}>" for u in approvers)
    _close_prompt(ctx, run, f"✅ Approved by {names}. Starting.")
    return Decision(f"Approved. Run #{run.id} is starting.", run_id, start=True)


def expire(ctx: Ctx, run: Run) -> None:
    _transition(ctx, run, PENDING, EXPIRED)
    run.finished_at, run.outcome = ctx.now, "The approval window passed."
    audit(ctx, run, "expired", BOT)
    _close_prompt(ctx, run, "⌛ Expired without enough approvals. Nothing ran; request it again if still needed.")


def request_cancel(ctx: Ctx, run_id: int, user_id: str) -> str:
    run = ctx.session.get(Run, run_id)
    if run is None:
        raise Refusal("That run no longer exists.")
    approvers = set(ctx.session.exec(
        select(Approval.user_id).where(Approval.run_id == run_id, Approval.decision == "approve")).all())
    if user_id != run.requested_by and user_id not in approvers:
        raise Refusal(f"Only the requester or an approver of run #{run.id} can cancel it.")
    if run.status == APPROVED:
        _transition(ctx, run, APPROVED, "cancelled")
        run.finished_at, run.outcome, run.cancel_requested_by = ctx.now, f"Cancelled by <@{user_id}>.", user_id
        audit(ctx, run, "cancelled", user_id)
        return f"Run #{run.id} is cancelled; it had not started."
    if run.status != RUNNING:
        raise Refusal(f"Run #{run.id} is {run.status}; there is nothing to cancel.")
    if run.cancel_requested_by:
        return f"Run #{run.id} is already being cancelled."
    run.cancel_requested_by = user_id
    audit(ctx, run, "cancel_requested", user_id)
    return f"Cancelling run #{run.id}: its processes are being stopped."


def _transition(ctx: Ctx, run: Run, before: str, after: str) -> None:
    result = ctx.session.exec(  # type: ignore[call-overload]
        update(Run).where(col(Run.id) == run.id).where(col(Run.status) == before).values(status=after)
    )
    if result.rowcount != 1:
        raise Refusal(f"Run #{run.id} changed at the same moment (another click or replica); nothing changed.")
    run.status = after


def _refresh_prompt(ctx: Ctx, run: Run, action: Action, approvers: list[str]) -> None:
    anchor = ctx.session.get(OutboundMessage, run.approval_message_id) if run.approval_message_id else None
    if anchor is not None:
        text, blocks = views.approval_prompt(run, action, approvers, ctx.now)
        outbox.edit(ctx.session, ctx.now, anchor, text, blocks, purpose=f"run:{run.id}:approval")


def _close_prompt(ctx: Ctx, run: Run, text: str) -> None:
    anchor = ctx.session.get(OutboundMessage, run.approval_message_id) if run.approval_message_id else None
    if anchor is not None:
        shown, blocks = views.approval_closed(text)
        outbox.edit(ctx.session, ctx.now, anchor, shown, blocks, purpose=f"run:{run.id}:approval")


def lock_refusal(lock: str | None, holder: Run) -> str:
    return (f"Lock `{lock}` is held by run #{holder.id} (`{holder.action}`, {holder.status}, requested by "
            f"{who(holder.requested_by)}); try again when it has finished.")


def reply_in_thread(ctx: Ctx, run: Run, text: str, blocks: list[dict] | None = None) -> OutboundMessage | None:
    anchor = ctx.session.get(OutboundMessage, run.request_message_id) if run.request_message_id else None
    if anchor is None:
        return None
    text, blocks = ctx.shown(text, blocks)
    return outbox.reply(ctx.session, ctx.now, anchor, text, blocks, purpose=f"run:{run.id}")
