"""Incident rules: what each command changes, and what it says to Slack.

Every function takes the unit of work's ``Ctx``, changes the database, records the change on the
timeline and enqueues the Slack messages in the same transaction (docs/architecture.md, "Commit,
then tell Slack"). Nothing here calls Slack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import insert, literal
from sqlmodel import Session, col, select

from bot.followups import service as followups
from bot.incidents import commands as cmd
from bot.incidents import escalation, queries, views
from bot.incidents.commands import UpdateFields
from bot.paging import service as paging
from bot.postmortems import service as postmortems
from bot.refusal import Refusal
from bot.slack import outbox
from bot.timeline import views as timeline_views
from bot.work import BOT, Ctx
from playbooks.models import AutoTick
from storage.models import ChecklistTick, Incident, RoleAssignment, StatusUpdate, TimelineEntry

# The declaring request provisions the channel itself; the scheduler steps in only after this.
PROVISION_GRACE = timedelta(minutes=2)
BACKDATE_LIMIT = timedelta(days=1)  # a note may say what led up to the declaration, not last week


@dataclass(frozen=True)
class DeclareRequest:
    severity: str
    title: str
    declared_by: str
    description: str = ""
    source_channel_id: str | None = None
    response_url: str | None = None
    request_key: str | None = None


def record(ctx: Ctx, incident: Incident, author: str, kind: str, text: str, *, at: datetime | None = None) -> None:
    ctx.session.add(TimelineEntry(incident_id=incident.id, at=at or ctx.now, author=author, kind=kind, text=text))


def happened(ctx: Ctx, incident: Incident, event: AutoTick) -> None:
    """Tick the checklist items the playbook says this event completes (once each)."""
    done = queries.ticks(ctx.session, incident.id)
    for phase in ctx.playbook.phases:
        for item in phase.items:
            if item.done_when == event and item.key not in done:
                ctx.session.add(ChecklistTick(incident_id=incident.id, phase=phase.key, item_key=item.key,
                                              done_by=BOT, done_at=ctx.now))
                record(ctx, incident, BOT, "checklist", f"✓ {phase.name}: {item.text} (automatically)")


def declare(ctx: Ctx, req: DeclareRequest) -> tuple[Incident, bool]:
    """Record a new incident with its timers; a repeated request key returns the first one."""
    if req.request_key:
        existing = ctx.session.exec(select(Incident).where(Incident.request_key == req.request_key)).first()
        if existing:
            return existing, False
    severity = ctx.playbook.severity(req.severity)
    incident = Incident(
        title=req.title, description=req.description, severity=severity.key,
        phase=ctx.playbook.phases[0].key, declared_by=req.declared_by, declared_at=ctx.now,
        request_key=req.request_key, source_channel_id=req.source_channel_id, response_url=req.response_url,
        provision_due_at=ctx.now + PROVISION_GRACE,
    )
    _plan_timers(ctx, incident)
    ctx.session.add(incident)
    ctx.session.flush()
    record(ctx, incident, req.declared_by, "declared", f"Declared {severity.label}: {req.title}")
    happened(ctx, incident, "declared")
    return incident, True


def _plan_timers(ctx: Ctx, incident: Incident) -> None:
    """(Re)plan cadence, acknowledgement deadline and escalation from the current severity."""
    severity = ctx.playbook.severity(incident.severity)
    incident.next_update_at = ctx.now + severity.update_every if severity.update_every else None
    incident.ack_due_at = None if incident.acknowledged_at else incident.declared_at + severity.response_time
    incident.next_escalation_at = escalation.next_due(ctx.playbook, incident)


def assign_role(ctx: Ctx, incident: Incident, role_name: str, user_id: str, by: str, *,
                claim: bool = False) -> str:
    role = ctx.playbook.role(role_name)
    if role is None:
        names = ", ".join(r.name for r in ctx.playbook.roles)
        raise Refusal(f"There is no role called `{role_name}`. Roles: {names}.")
    current = queries.role_holder(ctx.session, incident.id, role.key)
    if current and current.user_id == user_id:
        return f"<@{user_id}> is already {role.name}."
    if current and claim:
        raise Refusal(f"{role.name} is already held by <@{current.user_id}>; "
                            f"use `/incident assign {role.key} @user` to hand it over.")
    if current:
        current.user_id, current.assigned_by, current.assigned_at = user_id, by, ctx.now
    else:
        ctx.session.add(RoleAssignment(incident_id=incident.id, role=role.key, user_id=user_id,
                                       assigned_by=by, assigned_at=ctx.now))
    if role.key == "incident_commander":
        happened(ctx, incident, "commander_assigned")
    verb = "claimed" if claim else "assigned"
    text = f"<@{user_id}> is now {role.name}" + ("" if claim else f" (assigned by <@{by}>)")
    record(ctx, incident, by, "role", text)
    _announce(ctx, incident, f":bust_in_silhouette: {text}.", purpose=f"role_{verb}")
    if incident.channel_id:
        outbox.enqueue(ctx.session, ctx.now, "conversations.invite",
                       {"channel": incident.channel_id, "users": user_id}, incident_id=incident.id)
    _refresh_channel(ctx, incident, topic=role.key == "incident_commander")
    return f"<@{user_id}> is now {role.name}."


def acknowledge(ctx: Ctx, incident: Incident, by: str) -> str:
    if incident.acknowledged_at:
        if paging.stop_pages(ctx, incident.id or 0, by):  # a later level's pages: docs/paging.md
            record(ctx, incident, by, "page_acknowledged", "Pages stopped with /incident ack")
            return f"Already acknowledged by <@{incident.acknowledged_by}>; the repeat pages have stopped."
        return f"Already acknowledged by <@{incident.acknowledged_by}>."
    incident.acknowledged_at, incident.acknowledged_by, incident.ack_due_at = ctx.now, by, None
    record(ctx, incident, by, "acknowledged", "Acknowledged")
    paging.stop_pages(ctx, incident.id or 0, by)  # docs/paging.md: acknowledging stops the repeat pages
    happened(ctx, incident, "acknowledged")
    _refresh_channel(ctx, incident)
    _announce(ctx, incident, f":white_check_mark: <@{by}> acknowledged the incident.", purpose="ack")
    return "Acknowledged."


def post_update(ctx: Ctx, incident: Incident, fields: UpdateFields, by: str) -> str:
    """A human update: fills the template from this and the previous update, resets the clock."""
    previous = queries.latest_update(ctx.session, incident.id)
    update = StatusUpdate(
        incident_id=incident.id, at=ctx.now, author=by,
        status=fields.status or (previous.status if previous else "Investigating"),
        impact=fields.impact if fields.impact is not None else (previous.impact if previous else ""),
        actions=fields.actions if fields.actions is not None else (previous.actions if previous else ""),
        eta=fields.eta if fields.eta is not None else (previous.eta if previous else ""),
    )
    ctx.session.add(update)
    incident.last_update_at, incident.missed_updates = ctx.now, 0
    severity = ctx.playbook.severity(incident.severity)
    if severity.update_every:
        incident.next_update_at = ctx.now + severity.update_every
    record(ctx, incident, by, "update", f"Update: {update.status}; {update.actions}".rstrip("; "))
    progress = queries.progress(ctx.session, ctx.playbook, incident)
    text = views.status_update_text(ctx.playbook, incident, update, ctx.now, progress)
    if incident.channel_id:
        outbox.post(ctx.session, ctx.now, incident.channel_id, text, views.update_blocks(text, by),
                    incident_id=incident.id, purpose="update")
    for channel in severity.stakeholder_channels:
        mirrored = views.stakeholder_update_text(ctx.playbook, incident, update, ctx.now, progress, channel)
        outbox.post(ctx.session, ctx.now, channel, mirrored, views.update_blocks(mirrored, by),
                    incident_id=incident.id, purpose="update")
    return "Update posted."


def change_severity(ctx: Ctx, incident: Incident, new: str, by: str) -> str:
    if new == incident.severity:
        return f"The incident is already {new}."
    old, incident.severity = incident.severity, new
    _plan_timers(ctx, incident)
    label = ctx.playbook.severity(new).label
    record(ctx, incident, by, "severity", f"Severity {old} → {new}")
    _announce(ctx, incident, f":arrows_counterclockwise: <@{by}> changed severity {old} → {label}.",
              purpose="severity")
    _refresh_channel(ctx, incident, topic=True)
    return f"Severity is now {label}."


def add_note(ctx: Ctx, channel_id: str, text: str, by: str) -> bool:
    """A note on the timeline of the incident whose channel this is, open or resolved; False when the
    channel is no incident's. One statement: notes are the most frequent command during an incident,
    and the incident itself need not be read to add one."""
    entry = TimelineEntry.__table__  # type: ignore[attr-defined]
    found = select(col(Incident.id), literal(ctx.now, entry.c.at.type), literal(by), literal("note"),
                   literal(text)).where(col(Incident.channel_id) == channel_id).limit(1)
    added = ctx.session.execute(insert(entry).from_select(["incident_id", "at", "author", "kind", "text"], found)
                                .returning(entry.c.id))  # not rowcount: psycopg reports -1 for INSERT ... SELECT
    return added.first() is not None


def set_phase(ctx: Ctx, incident: Incident, name: str, by: str) -> str:
    phase = ctx.playbook.phase(name)
    if phase is None:
        names = ", ".join(p.key for p in ctx.playbook.phases)
        raise Refusal(f"There is no phase called `{name}`. Phases: {names}.")
    if phase.key == incident.phase:
        return f"Already in {phase.name}."
    incident.phase = phase.key
    record(ctx, incident, by, "phase", f"Phase → {phase.name}")
    _announce(ctx, incident, f":arrow_forward: <@{by}> moved the incident to *{phase.name}*.", purpose="phase")
    _refresh_channel(ctx, incident)
    return f"Now in {phase.name}."


def tick(ctx: Ctx, incident: Incident, item_key: str, by: str, *, done: bool) -> str:
    found = queries.checklist_item(ctx.playbook, item_key)
    if found is None:
        raise Refusal("That checklist item is not in the playbook any more.")
    phase, item = found
    existing = ctx.session.exec(select(ChecklistTick).where(
        ChecklistTick.incident_id == incident.id, ChecklistTick.item_key == item_key)).first()
    if done == (existing is not None):
        return "Already ticked." if done else "Not ticked."
    if done:
        ctx.session.add(ChecklistTick(incident_id=incident.id, phase=phase.key, item_key=item_key,
                                      done_by=by, done_at=ctx.now))
        record(ctx, incident, by, "checklist", f"✓ {phase.name}: {item.text}")
    else:
        ctx.session.delete(existing)
        record(ctx, incident, by, "checklist", f"✗ {phase.name}: {item.text} (unticked)")
    _refresh_channel(ctx, incident)
    return f"{'Ticked' if done else 'Unticked'}: {item.text}"


def resolve(ctx: Ctx, incident: Incident, summary: str, by: str) -> str:
    if incident.status == "resolved":
        return f"Already resolved by <@{incident.resolved_by}>."
    incident.status, incident.resolved_at, incident.resolved_by = "resolved", ctx.now, by
    incident.resolution_summary = summary
    incident.next_update_at = incident.ack_due_at = incident.next_escalation_at = None
    record(ctx, incident, by, "resolved", f"Resolved: {summary}")
    text = views.resolved_text(ctx.playbook, incident, ctx.now)
    severity = ctx.playbook.severity(incident.severity)
    targets = [incident.channel_id, ctx.playbook.settings.incidents_channel, *severity.stakeholder_channels]
    for channel in dict.fromkeys(t for t in targets if t):
        outbox.post(ctx.session, ctx.now, channel, text, incident_id=incident.id, purpose="resolved")
    _refresh_channel(ctx, incident, topic=True)
    return "Resolved. `/incident postmortem` drafts the post-mortem."


def reopen(ctx: Ctx, incident: Incident, reason: str, by: str) -> str:
    """Open a resolved incident again (an alert re-fired soon after): timers are planned anew and
    levels already notified are not notified twice."""
    if incident.status == "open":
        return f"{incident.ref} is already open."
    incident.status, incident.resolved_at, incident.resolved_by = "open", None, None
    _plan_timers(ctx, incident)
    record(ctx, incident, by, "reopened", f"Reopened: {reason}")
    _announce(ctx, incident, f":leftwards_arrow_with_hook: Reopened: {reason}", purpose="reopened")
    _refresh_channel(ctx, incident, topic=True)
    return f"{incident.ref} reopened."


# Commands typed in the channel of a resolved incident that still apply to it (a note too: add_note):
# the record of what happened is written after the fact as well.
AFTER_RESOLUTION = (cmd.Status, cmd.DraftPostmortem, cmd.NoteAt, cmd.ShowTimeline, cmd.AddFollowUp)


def carry_out(ctx: Ctx, incident: Incident, command: cmd.ChannelCommand, by: str) -> str:
    """A command typed in the incident's channel; the answer for the person who typed it."""
    if incident.status != "open" and not isinstance(command, AFTER_RESOLUTION):
        raise Refusal(f"{incident.ref} is resolved; only `status`, `note`, `timeline`, `followup` and `postmortem` "
                      "still apply.")
    match command:
        case cmd.Assign(role, user_id):
            return assign_role(ctx, incident, role, user_id, by)
        case cmd.Acknowledge():
            return acknowledge(ctx, incident, by)
        case cmd.PostUpdate(fields):
            return post_update(ctx, incident, fields, by)
        case cmd.ChangeSeverity(severity):
            return change_severity(ctx, incident, severity, by)
        case cmd.SetPhase(phase):
            return set_phase(ctx, incident, phase, by)
        case cmd.Status():
            return status_text(ctx, incident)
        case cmd.Resolve(summary):
            return resolve(ctx, incident, summary, by)
        case cmd.DraftPostmortem():
            return postmortems.draft(ctx, incident, by)
        case cmd.NoteAt():
            return note_at(ctx, incident, command, by)
        case cmd.ShowTimeline():
            return timeline_views.timeline_text(ctx.playbook, incident, queries.timeline(ctx.session, incident.id))
        case cmd.AddFollowUp(owner, due, text):
            followup = followups.add(ctx, incident, owner, due.resolve(followups.today(ctx)), text, by)
            return f"Follow-up {followup.ref} added for <@{owner}>, due {followup.due_on:%a %d %b}."
    raise Refusal("That command does not apply here. Try `/incident help`.")


def note_at(ctx: Ctx, incident: Incident, note: cmd.NoteAt, by: str) -> str:
    """A note at the time it says (pack time zone): on its date, or the latest such time not ahead."""
    zone = ctx.playbook.settings.zone
    local_now = ctx.now.astimezone(zone)
    try:
        when = datetime.combine(note.day or local_now.date(), time(note.hour, note.minute), tzinfo=zone)
    except (OverflowError, ValueError):
        raise Refusal("That time does not exist; write it like 14:05 or 2026-11-28 14:05.") from None
    if note.day is None and when > local_now:
        when -= timedelta(days=1)
    at = when.astimezone(UTC)
    if at > ctx.now:
        raise Refusal(f"{when:%Y-%m-%d %H:%M} is still ahead; a note says what already happened.")
    if at < incident.declared_at - BACKDATE_LIMIT:
        raise Refusal(f"{when:%Y-%m-%d %H:%M} is more than a day before {incident.ref} was declared "
                      f"({incident.declared_at.astimezone(zone):%Y-%m-%d %H:%M}); "
                      "give the date if you meant another day.")
    record(ctx, incident, by, "note", note.text, at=at)
    day = "" if when.date() == local_now.date() else f" on {when:%a %d %b}"
    return f"Noted on the timeline at {when:%H:%M}{day}."


def status_text(ctx: Ctx, incident: Incident) -> str:
    return views.status_text(ctx.playbook, incident, queries.roles(ctx.session, incident.id),
                             queries.latest_update(ctx.session, incident.id),
                             queries.progress(ctx.session, ctx.playbook, incident), ctx.now)


def update_form(ctx: Ctx, incident: Incident) -> dict:
    """The status update form, prefilled with the last update."""
    if incident.status != "open":
        raise Refusal(f"{incident.ref} is resolved; no more updates are due.")
    return views.update_modal(incident, queries.latest_update(ctx.session, incident.id))


def open_incidents(session: Session) -> list[Incident]:
    return list(session.exec(select(Incident).where(Incident.status == "open")
                             .order_by(col(Incident.declared_at))).all())


def _announce(ctx: Ctx, incident: Incident, text: str, *, purpose: str) -> None:
    if incident.channel_id:
        outbox.post(ctx.session, ctx.now, incident.channel_id, text, incident_id=incident.id, purpose=purpose)


def refresh_brief(ctx: Ctx, incident: Incident) -> None:
    """Re-render the pinned brief after something outside the incident changed what it shows
    (a change request linked as its cause)."""
    _refresh_channel(ctx, incident)


def _refresh_channel(ctx: Ctx, incident: Incident, *, topic: bool = False) -> None:
    """Re-render the pinned brief (and the topic) after a change that shows there."""
    if not incident.channel_id:
        return
    if incident.brief_ts:
        blocks = views.brief_blocks(ctx.playbook, incident, queries.roles(ctx.session, incident.id),
                                    queries.ticks(ctx.session, incident.id),
                                    queries.linked_changes(ctx.session, incident.id))
        outbox.enqueue(ctx.session, ctx.now, "chat.update",
                       {"channel": incident.channel_id, "ts": incident.brief_ts,
                        "text": views.brief_fallback(ctx.playbook, incident), "blocks": blocks},
                       incident_id=incident.id, purpose="brief")
    if topic:
        commander = queries.role_holder(ctx.session, incident.id, "incident_commander")
        outbox.enqueue(ctx.session, ctx.now, "conversations.setTopic",
                       {"channel": incident.channel_id,
                        "topic": views.topic(ctx.playbook, incident, commander.user_id if commander else None)},
                       incident_id=incident.id, purpose="topic")
