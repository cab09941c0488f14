"""Small read helpers over the incident tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from playbooks.models import ChecklistItem, Phase, Playbook
from storage.changes import ChangeRequest
from storage.models import ChecklistTick, Incident, RoleAssignment, StatusUpdate, TimelineEntry


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    phase_done: int
    phase_total: int

    def __str__(self) -> str:
        return f"{self.done}/{self.total} checklist items done"


def by_channel(session: Session, channel_id: str) -> Incident | None:
    return session.exec(select(Incident).where(Incident.channel_id == channel_id)).first()


def role_holder(session: Session, incident_id: int | None, role: str) -> RoleAssignment | None:
    return session.exec(select(RoleAssignment).where(
        RoleAssignment.incident_id == incident_id, RoleAssignment.role == role)).first()


def roles(session: Session, incident_id: int | None) -> dict[str, str]:
    rows = session.exec(select(RoleAssignment).where(RoleAssignment.incident_id == incident_id)).all()
    return {row.role: row.user_id for row in rows}


def linked_changes(session: Session, incident_id: int | None) -> list[ChangeRequest]:
    """Change requests linked to the incident as its cause (``/change link``)."""
    return list(session.exec(select(ChangeRequest).where(ChangeRequest.incident_id == incident_id)
                             .order_by(col(ChangeRequest.id))).all())


def ticks(session: Session, incident_id: int | None) -> dict[str, ChecklistTick]:
    rows = session.exec(select(ChecklistTick).where(ChecklistTick.incident_id == incident_id)).all()
    return {row.item_key: row for row in rows}


def latest_update(session: Session, incident_id: int | None) -> StatusUpdate | None:
    return session.exec(select(StatusUpdate).where(StatusUpdate.incident_id == incident_id)
                        .order_by(col(StatusUpdate.at).desc(), col(StatusUpdate.id).desc())).first()


def timeline(session: Session, incident_id: int | None) -> list[TimelineEntry]:
    return list(session.exec(select(TimelineEntry).where(TimelineEntry.incident_id == incident_id)
                             .order_by(col(TimelineEntry.at), col(TimelineEntry.id))).all())


def checklist_item(playbook: Playbook, key: str) -> tuple[Phase, ChecklistItem] | None:
    for phase in playbook.phases:
        for item in phase.items:
            if item.key == key:
                return phase, item
    return None


def progress(session: Session, playbook: Playbook, incident: Incident) -> Progress:
    done = ticks(session, incident.id)
    total = sum(len(p.items) for p in playbook.phases)
    phase = playbook.phase(incident.phase)
    phase_items = phase.items if phase else []
    return Progress(len(done), total, sum(1 for i in phase_items if i.key in done), len(phase_items))


def update_overdue_since(playbook: Playbook, incident: Incident, now: datetime) -> datetime | None:
    """When the status update nobody has posted was due: one cadence after the last update (or the
    declaration) once the cadence reminder has counted a missed cycle (``missed_updates``), or the
    planned due time between it and the tick that claims it."""
    due = incident.next_update_at
    if due is not None and due <= now:
        return due
    if incident.missed_updates > 0:
        try:
            every = playbook.severity(incident.severity).update_every
        except KeyError:
            every = None
        if every:
            return (incident.last_update_at or incident.declared_at) + every
    return None
