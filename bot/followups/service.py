"""Follow-up rules: adding one, marking one done, the owner's reminders, and what the issue
tracker's answers change. Functions of the unit of work's ``Ctx``; nothing here calls Slack or the
tracker (messages go to the outbox, tracker work is a due time for ``bot.followups.sync``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlmodel import select

from bot.followups import views
from bot.incidents import queries
from bot.incidents import service as incidents
from bot.refusal import Refusal
from bot.slack import outbox
from bot.slack.people import USER_ID
from bot.work import BOT, Ctx
from storage.followups import DONE, OPEN, FollowUp
from storage.models import Incident

MAX_AHEAD = timedelta(days=366)


def today(ctx: Ctx) -> date:
    """Today in the pack's time zone: due dates are local dates."""
    return ctx.now.astimezone(ctx.playbook.settings.zone).date()


def at_remind_time(ctx: Ctx, day: date) -> datetime:
    local = datetime.combine(day, ctx.playbook.record.followups.remind_time, tzinfo=ctx.playbook.settings.zone)
    return local.astimezone(UTC)


def add(ctx: Ctx, incident: Incident, owner: str, due_on: date, text: str, by: str,
        request_key: str | None = None) -> FollowUp:
    """Record an action item of ``incident``; the same request (a double submit) finds the first."""
    if request_key:
        same = ctx.session.exec(select(FollowUp).where(FollowUp.request_key == request_key)).first()
        if same is not None:
            return same
    text = " ".join(text.split())
    if not text:
        raise Refusal("Say what is to be done.")
    if len(text) > views.MAX_TEXT:
        raise Refusal(f"Keep the action under {views.MAX_TEXT} characters; the details belong in the tracker.")
    if not USER_ID.fullmatch(owner):
        raise Refusal("A follow-up needs a person to own it: pick them from Slack's @ menu.")
    local_today = today(ctx)
    if due_on < local_today:
        raise Refusal(f"{due_on:%Y-%m-%d} is in the past; pick today or a later day.")
    if due_on > local_today + MAX_AHEAD:
        raise Refusal("Pick a due date within a year.")
    tracker = ctx.playbook.record.followups.tracker
    followup = FollowUp(
        incident_id=incident.id, owner=owner, text=text, due_on=due_on, created_by=by, created_at=ctx.now,
        request_key=request_key, remind_at=max(at_remind_time(ctx, due_on), ctx.now),
        overdue_at=at_remind_time(ctx, due_on + timedelta(days=1)),
        tracker=tracker.kind if tracker else None, tracker_sync_at=ctx.now if tracker else None)
    ctx.session.add(followup)
    ctx.session.flush()
    incidents.record(ctx, incident, by, "followup",
                     f"Follow-up {followup.ref} for <@{owner}>, due {due_on:%Y-%m-%d}: {text}")
    if incident.channel_id:
        outbox.post(ctx.session, ctx.now, incident.channel_id, views.added_text(followup, by, local_today),
                    incident_id=incident.id, purpose="followup")
    return followup


def mark_done(ctx: Ctx, followup: FollowUp, by: str) -> str:
    """Done, by the owner, whoever added it, or the incident's commander (a button grants nothing)."""
    if followup.status == DONE:
        return f"{followup.ref} was already done (<@{followup.done_by}>)." if followup.done_by != BOT \
            else f"{followup.ref} was already done (closed in the tracker)."
    commander = queries.role_holder(ctx.session, followup.incident_id, "incident_commander")
    allowed = {followup.owner, followup.created_by, commander.user_id if commander else None}
    if by not in allowed:
        raise Refusal(f"{followup.ref} is <@{followup.owner}>'s; the owner, whoever added it or the "
                      "Incident Commander marks it done.")
    _done(ctx, followup, by, f"Follow-up {followup.ref} done")
    if followup.tracker and followup.tracker_key and not followup.tracker_done:
        followup.tracker_sync_at = ctx.now  # close the issue too
    return f"{followup.ref} is done."


def done_in_tracker(ctx: Ctx, followup: FollowUp) -> None:
    """The tracker says the issue is closed: the follow-up is done here too."""
    followup.tracker_done = True
    if followup.status != DONE:
        _done(ctx, followup, BOT, f"Follow-up {followup.ref} done (closed in {followup.tracker})")


def remind(ctx: Ctx, followup: FollowUp, *, overdue: bool) -> None:
    """The owner's direct message (a timer fired it; see ``bot.followups.timers``)."""
    incident = ctx.session.get(Incident, followup.incident_id)
    if incident is None or followup.status != OPEN:
        return
    text, blocks = views.reminder(followup, incident, today(ctx), overdue=overdue)
    outbox.post(ctx.session, ctx.now, followup.owner, text, blocks, incident_id=incident.id,
                purpose="followup_overdue" if overdue else "followup_due")


def _done(ctx: Ctx, followup: FollowUp, by: str, text: str) -> None:
    followup.status, followup.done_by, followup.done_at = DONE, by, ctx.now
    followup.remind_at = followup.overdue_at = None
    incident = ctx.session.get(Incident, followup.incident_id)
    if incident is not None:
        incidents.record(ctx, incident, by, "followup", text)
        if incident.channel_id and incident.status == "open":
            outbox.post(ctx.session, ctx.now, incident.channel_id,
                        f":white_check_mark: {text}" + ("" if by == BOT else f" (<@{by}>)"),
                        incident_id=incident.id, purpose="followup")
