"""The small queries behind the reports: recorded rows (timeline entries, follow-ups, change
requests, executor runs) read into ``bot.reports.figures``' values. Nothing is computed here but
which rows belong to a period; the figures are ``figures.report``'s.

The severity changes and escalation levels are read from the timeline entries the incident
service and its timers write (``Severity P1 → P0``, ``Escalated to level 3 (…)``): the timeline is
the record of what happened, and ``tests/test_reports.py`` drives those writers to keep both in step.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime

from sqlmodel import Session, col, or_, select

from bot.reports import figures
from playbooks.models import Playbook
from storage.changes import ChangeRequest
from storage.followups import FollowUp
from storage.models import Incident, TimelineEntry
from storage.runs import Run

KINDS = ("declared", "severity", "acknowledged", "update", "escalation", "resolved", "reopened")
BACKUP_ACTIONS = ("backup.run", "backup.verify", "backup.restore_test")
_SEVERITY = re.compile(r"^Severity (P[0-9]) → (P[0-9])")
_LEVEL = re.compile(r"^Escalated to level ([0-9]+)")
_DECLARED = re.compile(r"^Declared (P[0-9])")


def targets(playbook: Playbook) -> figures.Targets:
    objectives = playbook.backups.objectives
    return figures.Targets(
        response_time={key: s.response_time for key, s in playbook.severities.items()},
        update_every={key: s.update_every for key, s in playbook.severities.items()},
        rpo=objectives.database_rpo, rto=objectives.database_rto)


def _event(at: datetime, kind: str, text: str, declared_as: str) -> figures.Event | None:
    if kind == "declared":
        found = _DECLARED.match(text)
        return figures.Event(at, "declared", severity=found.group(1) if found else declared_as)
    if kind == "severity":
        found = _SEVERITY.match(text)
        return figures.Event(at, "severity", severity=found.group(2)) if found else None
    if kind == "escalation":
        found = _LEVEL.match(text)
        return figures.Event(at, "escalation", level=int(found.group(1))) if found else None
    return figures.Event(at, kind)


def histories(session: Session, since: datetime | None, until: datetime) -> list[figures.IncidentHistory]:
    """Every incident declared in [since, until) (all before ``until`` when ``since`` is None), with its
    events, follow-ups and linked changes: four queries, whatever the number of incidents, reading
    only the columns the figures need (a year of timeline entries as objects is several times slower)."""
    query = select(Incident).where(col(Incident.declared_at) < until)
    if since is not None:
        query = query.where(col(Incident.declared_at) >= since)
    incidents = list(session.exec(query.order_by(col(Incident.declared_at), col(Incident.id))).all())
    ids = [i.id for i in incidents]
    if not ids:
        return []
    entries: dict[int, list[tuple[datetime, str, str]]] = defaultdict(list)
    for incident_id, at, kind, text in session.exec(
            select(TimelineEntry.incident_id, TimelineEntry.at, TimelineEntry.kind, TimelineEntry.text)
            .where(col(TimelineEntry.incident_id).in_(ids)).where(col(TimelineEntry.kind).in_(KINDS))
            .order_by(col(TimelineEntry.at), col(TimelineEntry.id))).all():
        entries[incident_id].append((at, kind, text))
    followups: dict[int, list[figures.FollowUpFact]] = defaultdict(list)
    for incident_id, due_on, created_at, done_at in session.exec(
            select(FollowUp.incident_id, FollowUp.due_on, FollowUp.created_at, FollowUp.done_at)
            .where(col(FollowUp.incident_id).in_(ids))).all():
        followups[incident_id].append(figures.FollowUpFact(due_on, created_at, done_at))
    changes: dict[int, list[str]] = defaultdict(list)
    for incident_id, number in session.exec(select(ChangeRequest.incident_id, ChangeRequest.number)
                                            .where(col(ChangeRequest.incident_id).in_(ids))
                                            .order_by(col(ChangeRequest.id))).all():
        changes[incident_id or 0].append(number)
    out = []
    for incident in incidents:
        assert incident.id is not None
        events = [e for at, kind, text in entries[incident.id]
                  if (e := _event(at, kind, text, incident.severity)) is not None]
        out.append(figures.IncidentHistory(incident.id, incident.ref, incident.title, incident.declared_at,
                                           tuple(events), tuple(followups[incident.id]),
                                           tuple(changes[incident.id])))
    return out


def open_followups(session: Session, since: datetime) -> list[figures.FollowUpFact]:
    """Follow-ups not done before ``since``, of any incident."""
    rows = session.exec(select(FollowUp.due_on, FollowUp.created_at, FollowUp.done_at)
                        .where(or_(col(FollowUp.done_at).is_(None), col(FollowUp.done_at) >= since))).all()
    return [figures.FollowUpFact(*row) for row in rows]


def runs(session: Session, since: datetime, until: datetime) -> list[figures.RunFact]:
    """The backup actions' finished runs up to ``until``: those of the period, the last verified
    backup before it (where the worst gap starts) and the last restore test whenever it was."""
    columns = (Run.action, Run.status, Run.started_at, Run.finished_at)
    found = session.exec(select(*columns).where(col(Run.action).in_(BACKUP_ACTIONS))
                         .where(col(Run.finished_at).is_not(None)).where(col(Run.finished_at) <= until)
                         .where(col(Run.finished_at) >= since)).all()
    earlier_backup = session.exec(select(*columns).where(Run.action == "backup.run", Run.status == "succeeded")
                                  .where(col(Run.finished_at) < since)
                                  .order_by(col(Run.finished_at).desc())).first()
    earlier_test = session.exec(select(*columns).where(Run.action == "backup.restore_test")
                                .where(col(Run.status).in_(["succeeded", "failed"]))
                                .where(col(Run.finished_at) < since).order_by(col(Run.finished_at).desc())).first()
    rows = [*found, *(r for r in (earlier_backup, earlier_test) if r is not None)]
    return [figures.RunFact(*row) for row in rows]


def changes(session: Session, since: datetime, until: datetime) -> list[figures.ChangeFact]:
    rows = session.exec(select(ChangeRequest.category, ChangeRequest.status, ChangeRequest.incident_id)
                        .where(col(ChangeRequest.requested_at) >= since)
                        .where(col(ChangeRequest.requested_at) < until)).all()
    return [figures.ChangeFact(category, status, incident_id is not None) for category, status, incident_id in rows]


def report(session: Session, playbook: Playbook, since: datetime, until: datetime) -> figures.Report:
    pack = targets(playbook)
    today = until.astimezone(playbook.settings.zone).date()
    return figures.report(histories(session, since, until), open_followups(session, since),
                          runs(session, since, until), changes(session, since, until), pack,
                          since, until, today)


def incident_rows(session: Session, playbook: Playbook, since: datetime | None,
                  until: datetime) -> list[figures.IncidentFigures]:
    """One incident's figures each, for the export."""
    pack = targets(playbook)
    today = until.astimezone(playbook.settings.zone).date()
    return [figures.incident_figures(h, pack, until, today) for h in histories(session, since, until)]
