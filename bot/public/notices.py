"""Customer notices: the Communications Lead drafts one from the seed's template, prefilled from
the incident; the Incident Commander approves it, and only then is it public (the status page).

Roles are read when each button is pressed, so someone who handed the role over can no longer act
on it. Approval needs a second person: a drafter who is also the commander cannot publish alone,
as the executor never lets a requester approve their own run."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col, select

from bot.incidents import queries
from bot.incidents.service import record
from bot.incidents.views import local
from bot.public import views
from bot.refusal import Refusal
from bot.slack import outbox
from bot.work import SIMULTANEOUS, Ctx
from playbooks.templates import render
from storage.models import Incident, OutboundMessage
from storage.public import DRAFT, INITIAL, PUBLISHED, RESOLUTION, CustomerNotice

KINDS = (INITIAL, RESOLUTION)
MAX_TITLE, MAX_TEXT = 120, 2900


@dataclass(frozen=True)
class NoticeDraft:
    kind: str
    public_title: str
    impact: str
    body: str


def must_draft(ctx: Ctx, incident: Incident, user: str) -> None:
    lead = queries.role_holder(ctx.session, incident.id, "communications_lead")
    if lead is None:
        raise Refusal("Customer notices are drafted by the Communications Lead, and there is none yet: "
                            "`/incident assign comms @someone`.")
    if lead.user_id != user:
        raise Refusal(f"Customer notices are drafted by the Communications Lead, <@{lead.user_id}>.")


def prefilled(ctx: Ctx, incident: Incident, kind: str) -> NoticeDraft:
    """The seed's template filled from the incident: its subject line becomes the public title."""
    public = ctx.playbook.public
    latest = queries.latest_update(ctx.session, incident.id)
    impact = (latest.impact if latest else "") or "Some users may be affected."
    if kind == INITIAL:
        text = render(ctx.playbook.templates.customer_initial, {
            "service": public.service, "impact": impact, "started": local(ctx.playbook, incident.declared_at),
            "status_page_url": public.status_page_url})
    else:
        text = render(ctx.playbook.templates.customer_resolution, {
            "service": public.service, "start": local(ctx.playbook, incident.declared_at),
            "end": local(ctx.playbook, incident.resolved_at or ctx.now), "impact": impact,
            "resolution": incident.resolution_summary or "[Brief description]"})
    first, _, rest = text.partition("\n")
    if first.lower().startswith("subject:"):
        return NoticeDraft(kind, first.partition(":")[2].strip()[:MAX_TITLE], impact, rest.strip())
    return NoticeDraft(kind, public.service, impact, text.strip())


def notice_form(ctx: Ctx, incident: Incident, kind: str, user: str) -> dict:
    """The drafting form, prefilled; only for the Communications Lead."""
    must_draft(ctx, incident, user)
    draft = prefilled(ctx, incident, kind)
    return views.notice_modal(incident, kind, draft.public_title, draft.impact, draft.body)


def save_draft(ctx: Ctx, incident: Incident, draft: NoticeDraft, by: str, request_key: str) -> CustomerNotice:
    """Store the draft and post its preview, with the Approve button, in the incident channel."""
    must_draft(ctx, incident, by)
    same_form = ctx.session.exec(select(CustomerNotice).where(CustomerNotice.request_key == request_key)).first()
    if same_form is not None:  # Slack delivered the submission twice
        return same_form
    notice = CustomerNotice(incident_id=incident.id, kind=draft.kind, public_title=draft.public_title,
                            impact=draft.impact, body=draft.body, drafted_by=by, drafted_at=ctx.now,
                            request_key=request_key)
    ctx.session.add(notice)
    ctx.session.flush()
    record(ctx, incident, by, "notice", f"Drafted the {draft.kind} customer notice #{notice.id}")
    commander = queries.role_holder(ctx.session, incident.id, "incident_commander")
    text, blocks = views.preview(notice, commander.user_id if commander else None)
    preview = outbox.post(ctx.session, ctx.now, incident.channel_id or "", text, blocks, incident_id=incident.id,
                          purpose=f"notice:{notice.id}")
    ctx.session.flush()
    notice.preview_message_id = preview.id
    return notice


def approve(ctx: Ctx, incident: Incident, notice_id: int, user: str) -> str:
    notice = ctx.session.get(CustomerNotice, notice_id)
    if notice is None or notice.incident_id != incident.id:
        raise Refusal("That notice no longer exists.")
    if notice.status != DRAFT:
        return f"Already published by <@{notice.approved_by}>."
    commander = queries.role_holder(ctx.session, incident.id, "incident_commander")
    if commander is None or commander.user_id != user:
        who = f"<@{commander.user_id}>" if commander else "nobody yet (`/incident assign commander @someone`)"
        raise Refusal(f"Only the Incident Commander approves customer notices; that is {who}.")
    if user == notice.drafted_by:
        raise Refusal("You drafted this notice, so your approval does not count; the Incident Commander "
                            "must be someone else.")
    moved = ctx.session.exec(  # type: ignore[call-overload]
        update(CustomerNotice).where(col(CustomerNotice.id) == notice_id).where(col(CustomerNotice.status) == DRAFT)
        .values(status=PUBLISHED, approved_by=user, published_at=ctx.now))
    if moved.rowcount != 1:
        raise Refusal(SIMULTANEOUS)
    ctx.session.refresh(notice)
    record(ctx, incident, user, "notice", f"Approved and published the {notice.kind} customer notice #{notice.id}")
    if notice.preview_message_id is not None:
        anchor = ctx.session.get(OutboundMessage, notice.preview_message_id)
        if anchor is not None:
            text, blocks = views.published(notice)
            outbox.edit(ctx.session, ctx.now, anchor, text, blocks, purpose=f"notice:{notice.id}:published")
    outbox.post(ctx.session, ctx.now, incident.channel_id or "", f":globe_with_meridians: <@{user}> published the "
                f"{notice.kind} customer notice on the status page.", incident_id=incident.id, purpose="notice")
    return "Published on the status page."



