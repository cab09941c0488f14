"""Due incident work for the scheduler tick: cadence updates, acknowledgement deadlines and
escalation levels (DESIGN rule 3).

Each timer is claimed by a compare-and-set on its due time in the same transaction that
records what it caused, so a reminder fires exactly once across crashes and replicas. An
update overdue after downtime goes out once, and the next is planned from now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.incidents import escalation, queries, views
from bot.incidents.escalation import Directory
from bot.slack import outbox
from playbooks.durations import format_duration
from playbooks.models import Playbook
from storage.db import session_scope
from storage.models import Incident, TimelineEntry

MISSED_CYCLES_TO_ESCALATE = 2


class IncidentTimers:
    def __init__(self, engine: Engine, directory: Directory, playbook: Playbook, clock: Clock) -> None:
        self._engine = engine
        self._directory = directory
        self._playbook = playbook
        self._clock = clock

    def run_due(self) -> int:
        """Fire every due timer once; returns how many fired."""
        now = self._clock()
        with session_scope(self._engine) as session:
            due = session.exec(
                select(Incident.id).where(Incident.status == "open")
                .where(col(Incident.channel_id).is_not(None))
                .where(or_(col(Incident.ack_due_at) <= now, col(Incident.next_escalation_at) <= now,
                           col(Incident.next_update_at) <= now))
            ).all()
        fired = 0
        for incident_id in due:
            fired += self._claimed(incident_id, "ack_due_at", self._ack_deadline)
            fired += self._claimed(incident_id, "next_escalation_at", self._escalation)
            fired += self._claimed(incident_id, "next_update_at", self._cadence)
        return fired

    def _claimed(self, incident_id: int, column: str, step: Callable[[Session, Incident, datetime], None]) -> int:
        now = self._clock()
        with session_scope(self._engine) as session:
            incident = session.get(Incident, incident_id)
            due = getattr(incident, column) if incident else None
            if incident is None or incident.status != "open" or due is None or due > now:
                return 0
            # Claim: only the process that moves the due time away from what it read does the work;
            # the step then plans the next due time in the same transaction.
            result = session.exec(  # type: ignore[call-overload]
                update(Incident).where(col(Incident.id) == incident_id)
                .where(getattr(Incident, column) == due)
                .values({column: None})
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                session.rollback()
                return 0
            setattr(incident, column, None)
            step(session, incident, now)
        return 1

    def _ack_deadline(self, session: Session, incident: Incident, now: datetime) -> None:
        if incident.acknowledged_at:
            return
        severity = self._playbook.severity(incident.severity)
        self._escalate_next(session, incident, now,
                            f"not acknowledged within {format_duration(severity.response_time)}")

    def _escalation(self, session: Session, incident: Incident, now: datetime) -> None:
        reason = f"{format_duration(now - incident.declared_at)} since declaration"
        for level in escalation.due_levels(self._playbook, incident, now):
            escalation.escalate(session, self._directory, self._playbook, incident, level, now, reason)
        incident.next_escalation_at = escalation.next_due(self._playbook, incident)

    def _cadence(self, session: Session, incident: Incident, now: datetime) -> None:
        severity = self._playbook.severity(incident.severity)
        if severity.update_every is None:
            return
        since = incident.last_cadence_at or incident.declared_at
        missed = incident.last_update_at is None or incident.last_update_at <= since
        incident.missed_updates = incident.missed_updates + 1 if missed else 0
        incident.last_cadence_at = now
        incident.next_update_at = now + severity.update_every
        latest = queries.latest_update(session, incident.id)
        progress = queries.progress(session, self._playbook, incident)
        text = views.status_update_text(self._playbook, incident, latest, now, progress)
        roles = queries.roles(session, incident.id)
        askees = [f"<@{roles[r]}>" for r in ("incident_commander", "communications_lead") if r in roles]
        blocks = views.cadence_blocks(text, incident, missed_since=incident.last_update_at or incident.declared_at
                                      if missed else None, askees=askees, playbook=self._playbook)
        outbox.post(session, now, incident.channel_id or "", text, blocks, incident_id=incident.id,
                    purpose="cadence")
        for channel in severity.stakeholder_channels:
            mirrored = views.stakeholder_update_text(self._playbook, incident, latest, now, progress, channel)
            outbox.post(session, now, channel, mirrored, views.update_blocks(mirrored, None), incident_id=incident.id,
                        purpose="cadence_stakeholders")
        session.add(TimelineEntry(incident_id=incident.id, at=now, author="opsbot", kind="cadence",
                                  text="Scheduled status update posted" + (" (no new update)" if missed else "")))
        if missed and incident.missed_updates % MISSED_CYCLES_TO_ESCALATE == 0:
            self._escalate_next(session, incident, now, f"no update for {incident.missed_updates} cycles")

    def _escalate_next(self, session: Session, incident: Incident, now: datetime, reason: str) -> None:
        start = self._playbook.severity(incident.severity).escalation_starts_at
        if start is None:
            return
        level = self._playbook.next_level(max(incident.escalation_level, start - 1))
        if level is not None:
            escalation.escalate(session, self._directory, self._playbook, incident, level, now, reason)

