"""The rules of change management (procedures 5.2): who approves which category, the lead time,
owed emergency approvals, the approvals checklist and the lifecycle
requested → approved → in progress → done / rolled back.

Every step is a compare-and-set on the request's row with its timeline entry, committed before
Slack hears of it (the outbox), so a double click, a replayed request or a second replica changes
nothing twice. Approvers pass the executor's rule (``bot.executor.approvals``): never the
requester, and user-group membership read live from Slack on every click."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.changes import numbering, views
from bot.changes.forms import ChangeForm
from bot.executor.approvals import Approver, describe, is_allowed
from bot.incidents import service as incidents
from bot.refusal import Refusal
from bot.slack import outbox
from bot.slack.people import who
from bot.work import BOT, Ctx
from playbooks.changes import ChangeCategory
from storage.changes import (
    APPROVED,
    DONE,
    FINISHED,
    IN_PROGRESS,
    REQUESTED,
    ROLLED_BACK,
    ChangeApproval,
    ChangeEvent,
    ChangeRequest,
)
from storage.models import Incident, OutboundMessage
from storage.windows import MaintenanceWindow


def category(ctx: Ctx, cr: ChangeRequest) -> ChangeCategory:
    return ctx.playbook.changes.category(cr.category)


def find(session: Session, number: str) -> ChangeRequest:
    cr = session.exec(select(ChangeRequest).where(ChangeRequest.number == number.upper())).first()
    if cr is None:
        raise Refusal(f"There is no change request {number.upper()}. `/change list` shows them.")
    return cr


def get(session: Session, change_id: int) -> ChangeRequest:
    cr = session.get(ChangeRequest, change_id)
    if cr is None:
        raise Refusal("That change request no longer exists.")
    return cr


# -- request ----------------------------------------------------------------------------------------
def submit(ctx: Ctx, form: ChangeForm, requester: str, request_key: str | None) -> tuple[ChangeRequest, bool]:
    """Record a request (numbered, announced in the changes channel); a repeated submission of the
    same form returns the first one."""
    if request_key:
        existing = ctx.session.exec(select(ChangeRequest).where(ChangeRequest.request_key == request_key)).first()
        if existing:
            return existing, False
    year = ctx.now.year
    seq = numbering.allocate(ctx.session, year)
    cr = ChangeRequest(
        number=numbering.format_number(year, seq), year=year, seq=seq, request_key=request_key,
        category=form.category, priority=form.priority, description=form.description, systems=form.systems,
        user_impact=form.user_impact, downtime=form.downtime, downtime_duration=form.downtime_duration,
        risk=form.risk, implementation_plan=form.implementation_plan, rollback_plan=form.rollback_plan,
        testing=json.dumps(list(form.testing)), requested_by=requester, requested_at=ctx.now,
        named_approver=form.named_approver,
    )
    ctx.session.add(cr)
    ctx.session.flush()
    kind = category(ctx, cr)
    _record(ctx, cr, requester, "requested", f"{kind.name} change requested")
    if kind.approval == "automatic":
        cr.status, cr.approved_by, cr.approved_at = APPROVED, BOT, ctx.now
        _record(ctx, cr, BOT, "approved", f"Approved automatically ({kind.name} changes are pre-approved)")
    elif kind.approval == "retroactive":
        cr.approval_owed = True
        assert kind.remind_every is not None
        cr.remind_at = ctx.now + kind.remind_every
        _record(ctx, cr, requester, "approval_owed",
                f"Verbal approval by <@{cr.named_approver}>; to be recorded in the thread")
    root = outbox.post(ctx.session, ctx.now, ctx.playbook.changes.channel, views.announcement_text(cr, kind),
                       views.request_blocks(ctx.playbook, cr, []), purpose="change_request")
    controls = outbox.reply(ctx.session, ctx.now, root, f"{cr.number}: approvals and progress",
                            views.controls_blocks(ctx.playbook, cr, {}, ctx.now), purpose="change_controls")
    ctx.session.flush()
    cr.message_id, cr.controls_id = root.id, controls.id
    if cr.approval_owed:
        _notify_approver(ctx, cr, first=True)
    return cr, True


def approver_problem(ctx: Ctx, form: ChangeForm, requester: str) -> str | None:
    """An emergency request names who gave the verbal approval: they must be one who may approve
    (membership read live), or the reminders would go to someone who cannot act on them."""
    if not form.named_approver:
        return None
    kind = ctx.playbook.changes.category(form.category)
    if is_allowed(kind.approvers, Approver(form.named_approver, requester, {}), ctx.directory):
        return None
    return f"That person may not approve {kind.name} changes; pick one of {describe(kind.approvers)}."


# -- approval ---------------------------------------------------------------------------------------
def approve(ctx: Ctx, cr: ChangeRequest, user: str) -> str:
    """A Team Lead's approval (Normal), or the documented verbal approval (Emergency)."""
    kind = category(ctx, cr)
    if kind.approval == "automatic":
        raise Refusal(f"{cr.number} is a {kind.name} change: it was approved automatically.")
    if not cr.approval_owed and cr.approved_by:
        raise Refusal(f"{cr.number} was already approved by {who(cr.approved_by)}; nothing changed.")
    if cr.status in FINISHED and not cr.approval_owed:
        raise Refusal(f"{cr.number} is {views.STATUS[cr.status]}; nothing to approve.")
    _check(ctx, kind.approvers, cr, user, f"approve {kind.name} changes")
    if kind.approval == "retroactive":
        moved = _set_where(ctx, cr, col(ChangeRequest.approval_owed).is_(True), approval_owed=False, remind_at=None)
        if not moved:
            raise Refusal(f"{cr.number}'s approval was recorded at the same moment; nothing changed.")
        cr.approval_owed, cr.remind_at = False, None
        if cr.status == REQUESTED:
            _move(ctx, cr, (REQUESTED,), APPROVED)
    else:
        _move(ctx, cr, (REQUESTED,), APPROVED)
    cr.approved_by, cr.approved_at = user, ctx.now
    text = ("Verbal approval recorded" if kind.approval == "retroactive" else "Approved") + f" by <@{user}>"
    _record(ctx, cr, user, "approved", text)
    _refresh(ctx, cr, f"✅ {cr.number}: {text}.")
    return f"You approved {cr.number}."


def tick(ctx: Ctx, cr: ChangeRequest, item_key: str, user: str) -> str:
    """Tick one item of the approvals checklist; only who the playbook names for it may."""
    item = ctx.playbook.changes.item(item_key)
    if item is None:
        raise Refusal("That checklist item is no longer in the playbook; nothing changed.")
    done = ctx.session.exec(select(ChangeApproval).where(ChangeApproval.change_id == cr.id,
                                                         ChangeApproval.item == item.key)).first()
    if done:
        raise Refusal(f"{item.name} was already ticked by <@{done.user_id}>; nothing changed.")
    _check(ctx, item.who, cr, user, f"tick {item.name}")
    assert cr.id is not None
    ctx.session.add(ChangeApproval(change_id=cr.id, item=item.key, user_id=user, at=ctx.now))
    ctx.session.flush()  # the unique (change, item) key refuses a simultaneous second tick
    _record(ctx, cr, user, "checklist", f"{item.name} ticked by <@{user}>")
    _refresh(ctx, cr, f"☑️ {cr.number}: {item.name} ticked by <@{user}>.")
    return f"{item.name} ticked for {cr.number}."


# -- lifecycle --------------------------------------------------------------------------------------
def start(ctx: Ctx, cr: ChangeRequest, user: str) -> str:
    kind = category(ctx, cr)
    if cr.status == IN_PROGRESS or cr.status in FINISHED:
        raise Refusal(f"{cr.number} is already {views.STATUS[cr.status]}; nothing changed.")
    startable = (APPROVED, REQUESTED) if kind.approval == "retroactive" else (APPROVED,)
    if cr.status not in startable:
        raise Refusal(f"{cr.number} needs approval by {kind.approver_label or describe(kind.approvers)} "
                          f"({describe(kind.approvers)}) before it can start.")
    earliest = cr.requested_at + kind.lead_time
    if ctx.now < earliest:
        raise Refusal(
            f"{cr.number} cannot start yet: {kind.name} changes need {views.duration(kind.lead_time)} of lead time. "
            f"It may start from {views.local(ctx.playbook, earliest)} "
            f"({views.duration(earliest - ctx.now)} from now).")
    _move(ctx, cr, startable, IN_PROGRESS)
    cr.started_at = ctx.now
    owed = " (approval still owed)" if cr.approval_owed else ""
    _record(ctx, cr, user, "started", f"Implementation started by <@{user}>{owed}")
    _refresh(ctx, cr, f"🚧 {cr.number}: implementation started by <@{user}>{owed}.")
    return f"{cr.number} is in progress."


def finish(ctx: Ctx, cr: ChangeRequest, user: str, outcome: str) -> str:
    assert outcome in FINISHED
    if cr.status != IN_PROGRESS:
        already = cr.status in FINISHED
        raise Refusal(f"{cr.number} is {views.STATUS[cr.status]}; "
                          + ("nothing changed." if already else "only a change in progress can be finished."))
    _move(ctx, cr, (IN_PROGRESS,), outcome)
    cr.finished_at = ctx.now
    said = "completed" if outcome == DONE else "rolled back"
    _record(ctx, cr, user, outcome, f"Change {said} by <@{user}>")
    _refresh(ctx, cr, f"{'🏁' if outcome == DONE else '↩️'} {cr.number}: {said} by <@{user}>.")
    return f"{cr.number} is {views.STATUS[outcome]}."


def step(ctx: Ctx, cr: ChangeRequest, name: str, user: str) -> str:
    """``approve``, ``start``, ``done`` or ``rollback``: a button in the thread or ``/change <step>``."""
    match name:
        case "approve":
            return approve(ctx, cr, user)
        case "start":
            return start(ctx, cr, user)
        case "done":
            return finish(ctx, cr, user, DONE)
        case "rollback":
            return finish(ctx, cr, user, ROLLED_BACK)
    raise Refusal(f"`{name}` is not a step of a change request.")


# -- links ------------------------------------------------------------------------------------------
def link_incident(ctx: Ctx, cr: ChangeRequest, incident: Incident, user: str) -> str:
    """An incident caused by this change: its brief and post-mortem name the change."""
    if cr.incident_id == incident.id:
        raise Refusal(f"{cr.number} is already linked to {incident.ref}; nothing changed.")
    cr.incident_id = incident.id
    _record(ctx, cr, user, "linked", f"Linked to incident {incident.ref} by <@{user}>")
    _refresh(ctx, cr, f"🔗 {cr.number} linked to incident {incident.ref} by <@{user}>.")
    incidents.record(ctx, incident, user, "change", f"Linked to change {cr.number} (possible cause)")
    if incident.channel_id:
        outbox.post(ctx.session, ctx.now, incident.channel_id, views.incident_notice(ctx.playbook, cr),
                    incident_id=incident.id, purpose="change_link")
    incidents.refresh_brief(ctx, incident)
    return f"{cr.number} is linked to {incident.ref}."


def link_window(ctx: Ctx, cr: ChangeRequest, window_id: int, user: str) -> str:
    """The change runs in that maintenance window."""
    if ctx.session.get(MaintenanceWindow, window_id) is None:
        raise Refusal(f"There is no maintenance window MW-{window_id}; nothing changed.")
    if cr.maintenance_window_id == window_id:
        raise Refusal(f"{cr.number} is already linked to maintenance window MW-{window_id}; nothing changed.")
    cr.maintenance_window_id = window_id
    _record(ctx, cr, user, "linked", f"Linked to maintenance window MW-{window_id} by <@{user}>")
    _refresh(ctx, cr, f"🔗 {cr.number} linked to maintenance window MW-{window_id} by <@{user}>.")
    return f"{cr.number} is linked to maintenance window MW-{window_id}."


# -- reminders (the scheduler tick claims them; see bot/changes/reminders.py) --------------------------
def remind(ctx: Ctx, cr: ChangeRequest) -> None:
    kind = category(ctx, cr)
    assert kind.remind_every is not None
    cr.reminders_sent += 1
    cr.remind_at = ctx.now + kind.remind_every
    _record(ctx, cr, BOT, "reminder", f"Reminded <@{cr.named_approver}> to record the approval")
    _notify_approver(ctx, cr, first=False)


# -- reading ----------------------------------------------------------------------------------------
def timeline(session: Session, cr: ChangeRequest) -> list[ChangeEvent]:
    return list(session.exec(select(ChangeEvent).where(ChangeEvent.change_id == cr.id)
                             .order_by(col(ChangeEvent.at), col(ChangeEvent.id))).all())


def ticks(session: Session, cr: ChangeRequest) -> dict[str, ChangeApproval]:
    rows = session.exec(select(ChangeApproval).where(ChangeApproval.change_id == cr.id)).all()
    return {row.item: row for row in rows}


def recent(session: Session, limit: int = 20) -> list[ChangeRequest]:
    """Open requests first, then the latest finished ones."""
    rows = session.exec(select(ChangeRequest).order_by(col(ChangeRequest.id).desc()).limit(200)).all()
    open_ = [cr for cr in rows if cr.status not in FINISHED]
    return (open_ + [cr for cr in rows if cr.status in FINISHED])[:limit]


# -- internals --------------------------------------------------------------------------------------
def _check(ctx: Ctx, allowed: tuple[str, ...], cr: ChangeRequest, user: str, what: str) -> None:
    if user == cr.requested_by:
        raise Refusal(f"You requested {cr.number}, so you cannot {what} on it; someone else must.")
    if not is_allowed(allowed, Approver(user, cr.requested_by, {}), ctx.directory):
        raise Refusal(f"Only {describe(allowed)} may {what}; you are not one of them.")


def _move(ctx: Ctx, cr: ChangeRequest, from_: tuple[str, ...], to: str) -> None:
    if not _set_where(ctx, cr, col(ChangeRequest.status).in_(from_), status=to):
        raise Refusal(f"{cr.number} changed at the same moment (someone else or a double click); nothing more "
                          "changed.")
    cr.status = to


def _set_where(ctx: Ctx, cr: ChangeRequest, condition: Any, **values: Any) -> bool:
    """Compare-and-set: only the first of two simultaneous clicks moves the row."""
    result = ctx.session.exec(  # type: ignore[call-overload]
        update(ChangeRequest).where(col(ChangeRequest.id) == cr.id).where(condition).values(**values)
        .execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)


def _record(ctx: Ctx, cr: ChangeRequest, author: str, kind: str, text: str) -> None:
    assert cr.id is not None
    ctx.session.add(ChangeEvent(change_id=cr.id, at=ctx.now, author=author, kind=kind, text=text))


def _refresh(ctx: Ctx, cr: ChangeRequest, note: str) -> None:
    """Re-render the announcement and the thread's buttons; say what happened in the thread."""
    root = ctx.session.get(OutboundMessage, cr.message_id) if cr.message_id else None
    controls = ctx.session.get(OutboundMessage, cr.controls_id) if cr.controls_id else None
    if root is None or controls is None:
        return
    done = ticks(ctx.session, cr)
    outbox.edit(ctx.session, ctx.now, root, views.announcement_text(cr, category(ctx, cr)),
                views.request_blocks(ctx.playbook, cr, list(done)), purpose="change_request")
    outbox.edit(ctx.session, ctx.now, controls, f"{cr.number}: approvals and progress",
                views.controls_blocks(ctx.playbook, cr, done, ctx.now), purpose="change_controls")
    outbox.reply(ctx.session, ctx.now, root, note, purpose="change_step")


def _notify_approver(ctx: Ctx, cr: ChangeRequest, *, first: bool) -> None:
    if not cr.named_approver:
        return
    root = ctx.session.get(OutboundMessage, cr.message_id) if cr.message_id else None
    text = views.approval_owed_text(ctx.playbook, cr, first=first)
    outbox.post(ctx.session, ctx.now, cr.named_approver, text, purpose="change_reminder_dm")
    if root is not None:
        outbox.reply(ctx.session, ctx.now, root, text, purpose="change_reminder")
