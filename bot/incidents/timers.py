"""Due incident work for the scheduler tick: cadence updates, acknowledgement deadlines and
escalation levels (docs/architecture.md, "Timers are data").

Each timer is claimed by a compare-and-set on its due time in the same transaction that
records what it caused, so a reminder fires exactly once across crashes and replicas. An
update overdue after downtime goes out once, and the next is planned from now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import or_
from sqlmodel import col, select

from bot.incidents import escalation, queries, views
from bot.incidents.service import record
from bot.oncall import service as oncall
from bot.paging import service as paging
from bot.slack import outbox
from bot.timers import claim_due
from bot.work import BOT, Ctx, UnitOfWork
from playbooks.durations import format_duration
from playbooks.models import EscalationLevel
from storage.models import Incident

log = structlog.get_logger(__name__)
MISSED_CYCLES_TO_ESCALATE = 2
log = structlog.get_logger(__name__)
BATCH = 40
"""Incidents whose timers fire in one transaction; also the most sections of a combined stakeholder
message (Slack takes 50 blocks)."""


class IncidentTimers:
    def __init__(self, work: UnitOfWork) -> None:
        self._work = work

    def run_due(self) -> int:
        """Fire every due timer once, ``BATCH`` incidents per transaction; returns how many fired.
        A batch that fails is retried one incident at a time, so one broken incident holds back
        only its own timers."""
        due = self._work(lambda ctx: ctx.session.exec(
            select(Incident.id).where(Incident.status == "open")
            .where(col(Incident.channel_id).is_not(None))
            .where(or_(col(Incident.ack_due_at) <= ctx.now, col(Incident.next_escalation_at) <= ctx.now,
                       col(Incident.next_update_at) <= ctx.now))
            .order_by(col(Incident.id))
        ).all())
        fired = 0
        for start in range(0, len(due), BATCH):
            batch = [i for i in due[start:start + BATCH] if i is not None]
            try:
                fired += self._work(lambda ctx, b=batch: _fire(ctx, b))
            except Exception:
                log.exception("incident_timers_batch_failed", incidents=len(batch))
                for incident_id in batch:
                    try:
                        fired += self._work(lambda ctx, i=incident_id: _fire(ctx, [i]))
                    except Exception:
                        log.exception("incident_timer_failed", incident_id=incident_id)
        return fired


def _fire(ctx: Ctx, incident_ids: list[int]) -> int:
    """Each due time of these incidents is claimed (one statement per column for the batch) and its
    step run in this transaction; each step plans the next due time. The stakeholder copies of the
    cadence updates go out together (``Mirrors``)."""
    mirrors = Mirrors()
    steps: tuple[tuple[str, Callable[[Ctx, Incident], None]], ...] = (
        ("ack_due_at", _ack_deadline), ("next_escalation_at", _escalation),
        ("next_update_at", lambda c, incident: _cadence(c, incident, mirrors)))
    fired = 0
    for column, step in steps:
        for incident in claim_due(ctx, Incident, incident_ids, column, where=[col(Incident.status) == "open"]):
            step(ctx, incident)
            fired += 1
    mirrors.post(ctx)
    return fired


@dataclass
class Mirrors:
    """Cadence updates bound for stakeholder channels in one batch, by channel. Slack takes about one
    message per second per channel: a thousand incidents due together mirrored one by one would keep
    a stakeholder channel busy for a quarter of an hour, so a channel gets one message per batch,
    with a section per incident."""

    by_channel: dict[str, list[tuple[Incident, str]]] = field(default_factory=dict)

    def add(self, channel: str, incident: Incident, text: str) -> None:
        self.by_channel.setdefault(channel, []).append((incident, text))

    def post(self, ctx: Ctx) -> None:
        for channel, mirrored in self.by_channel.items():
            if len(mirrored) == 1:
                [(incident, text)] = mirrored
                outbox.post(ctx.session, ctx.now, channel, text, views.update_blocks(text, None),
                            incident_id=incident.id, purpose="cadence_stakeholders")
            else:
                text, blocks = views.combined_updates([(i.ref, t) for i, t in mirrored])
                outbox.post(ctx.session, ctx.now, channel, text, blocks, purpose="cadence_stakeholders")


def _ack_deadline(ctx: Ctx, incident: Incident) -> None:
    if incident.acknowledged_at:
        return
    severity = ctx.playbook.severity(incident.severity)
    _escalate_next(ctx, incident, f"not acknowledged within {format_duration(severity.response_time)}")


def _escalation(ctx: Ctx, incident: Incident) -> None:
    reason = f"{format_duration(ctx.now - incident.declared_at)} since declaration"
    for level in escalation.due_levels(ctx.playbook, incident, ctx.now):
        escalate(ctx, incident, level, reason)
    incident.next_escalation_at = escalation.next_due(ctx.playbook, incident)


def _cadence(ctx: Ctx, incident: Incident, mirrors: Mirrors) -> None:
    severity = ctx.playbook.severity(incident.severity)
    if severity.update_every is None:
        return
    since = incident.last_cadence_at or incident.declared_at
    missed = incident.last_update_at is None or incident.last_update_at <= since
    incident.missed_updates = incident.missed_updates + 1 if missed else 0
    incident.last_cadence_at = ctx.now
    incident.next_update_at = ctx.now + severity.update_every
    latest = queries.latest_update(ctx.session, incident.id)
    progress = queries.progress(ctx.session, ctx.playbook, incident)
    text = views.status_update_text(ctx.playbook, incident, latest, ctx.now, progress)
    roles = queries.roles(ctx.session, incident.id)
    askees = [f"<@{roles[r]}>" for r in ("incident_commander", "communications_lead") if r in roles]
    blocks = views.cadence_blocks(text, incident, missed_since=incident.last_update_at or incident.declared_at
                                  if missed else None, askees=askees, playbook=ctx.playbook)
    outbox.post(ctx.session, ctx.now, incident.channel_id or "", text, blocks, incident_id=incident.id,
                purpose="cadence")
    for channel in severity.stakeholder_channels:
        mirrors.add(channel, incident,
                    views.stakeholder_update_text(ctx.playbook, incident, latest, ctx.now, progress, channel))
    record(ctx, incident, BOT, "cadence", "Scheduled status update posted" + (" (no new update)" if missed else ""))
    if missed and incident.missed_updates % MISSED_CYCLES_TO_ESCALATE == 0:
        _escalate_next(ctx, incident, f"no update for {incident.missed_updates} cycles")


def _escalate_next(ctx: Ctx, incident: Incident, reason: str) -> None:
    start = ctx.playbook.severity(incident.severity).escalation_starts_at
    if start is None:
        return
    level = ctx.playbook.next_level(max(incident.escalation_level, start - 1))
    if level is not None:
        escalate(ctx, incident, level, reason)


def escalate(ctx: Ctx, incident: Incident, level: EscalationLevel, reason: str) -> None:
    """Notify one level (mention in the channel, a DM each, an invitation, a page through each
    person's contacts beyond Slack: docs/paging.md) and plan the next."""
    who = escalation.resolve_targets(ctx.session, ctx.directory, incident, level.notify,
                                     on_call=lambda name: oncall.on_call_now(ctx, name))
    incident.escalation_level = level.level
    incident.next_escalation_at = escalation.next_due(ctx.playbook, incident)
    mentions = " ".join(who.mentions) or "nobody could be resolved"
    text = (f":rotating_light: *Escalation level {level.level}* for {incident.ref} ({reason}): {mentions}"
            + (f"\n_{level.description}_" if level.description else ""))
    if who.unresolved:
        text += f"\n:warning: Not found in this workspace: {', '.join(who.unresolved)}"
    paged = paging.page_level(ctx, incident, level.level, who.users, f"Escalated: {reason}")
    if paged:
        text += (f"\n:pager: Paging {' '.join(f'<@{p.user_id}>' for p in paged)} beyond Slack until someone "
                 "acknowledges (the link in the page, or `/incident ack`).")
    record(ctx, incident, BOT, "escalation", f"Escalated to level {level.level} ({reason}): {mentions}")
    outbox.post(ctx.session, ctx.now, incident.channel_id or "", text, incident_id=incident.id, purpose="escalation")
    if who.users and incident.channel_id:
        outbox.enqueue(ctx.session, ctx.now, "conversations.invite",
                       {"channel": incident.channel_id, "users": ",".join(who.users)}, incident_id=incident.id)
    dm = (f":rotating_light: You are being escalated to for {incident.ref} "
          f"({ctx.playbook.severity(incident.severity).label}): {incident.title}. Reason: {reason}. "
          f"Join <#{incident.channel_id}>.")
    for user in who.users:
        outbox.post(ctx.session, ctx.now, user, dm, incident_id=incident.id, purpose="escalation_dm")
