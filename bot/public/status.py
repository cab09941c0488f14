"""What the status page shows, read only from published customer notices and scheduled
maintenance windows: public titles, impact and the latest published notice, never an internal
title, update, channel or person."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from playbooks.models import Playbook
from storage.models import Incident
from storage.public import PUBLISHED, RESOLUTION, CustomerNotice
from storage.windows import SCHEDULED, MaintenanceWindow


@dataclass(frozen=True)
class PublicIncident:
    title: str
    impact: str
    latest: str
    latest_at: datetime
    started_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class PublicWindow:
    title: str
    starts_at: datetime
    ends_at: datetime
    impact: str
    services: tuple[str, ...]


@dataclass(frozen=True)
class StatusPage:
    title: str
    generated_at: datetime
    current: tuple[PublicIncident, ...]
    maintenance: tuple[PublicWindow, ...]
    history: tuple[PublicIncident, ...]

    @property
    def operational(self) -> bool:
        return not self.current


def snapshot(session: Session, playbook: Playbook, now: datetime) -> StatusPage:
    since = now - timedelta(days=playbook.public.history_days)
    notices = session.exec(select(CustomerNotice, Incident.declared_at, Incident.resolved_at)
                           .join(Incident, col(Incident.id) == col(CustomerNotice.incident_id))
                           .where(col(CustomerNotice.status) == PUBLISHED)
                           .order_by(col(CustomerNotice.published_at), col(CustomerNotice.id))).all()
    by_incident: dict[int, list[CustomerNotice]] = {}
    times: dict[int, tuple[datetime, datetime | None]] = {}
    for notice, declared_at, resolved_at in notices:
        by_incident.setdefault(notice.incident_id, []).append(notice)
        times[notice.incident_id] = (declared_at, resolved_at)
    current, history = [], []
    for incident_id, published in by_incident.items():
        shown = _incident(published, *times[incident_id])
        if shown.resolved_at is None:
            current.append(shown)
        elif shown.resolved_at >= since:
            history.append(shown)
    return StatusPage(
        title=playbook.public.status_page_title, generated_at=now,
        current=tuple(sorted(current, key=lambda i: i.started_at, reverse=True)),
        maintenance=_windows(session, playbook, now),
        history=tuple(sorted(history, key=lambda i: i.started_at, reverse=True)),
    )


def _incident(published: list[CustomerNotice], declared_at: datetime, resolved_at: datetime | None) -> PublicIncident:
    """Started and resolved are the incident's own times (those its notices state), not when the
    notices went out: a notice approved an hour into an outage does not move its start."""
    latest = published[-1]
    assert latest.published_at is not None
    resolved = (resolved_at or latest.published_at) if latest.kind == RESOLUTION else None
    return PublicIncident(title=latest.public_title, impact=latest.impact, latest=latest.body,
                          latest_at=latest.published_at, started_at=declared_at, resolved_at=resolved)


def _windows(session: Session, playbook: Playbook, now: datetime) -> tuple[PublicWindow, ...]:
    """Windows ahead or in progress that users are told about: a standing window that sends no
    notices (the automated daily one) has no user impact and stays off the page too."""
    silent = {w.key for w in playbook.windows.standing if not w.notify}
    rows = session.exec(select(MaintenanceWindow).where(col(MaintenanceWindow.status) == SCHEDULED)
                        .where(col(MaintenanceWindow.ends_at) > now)
                        .order_by(col(MaintenanceWindow.starts_at))).all()
    return tuple(PublicWindow(title=w.title, starts_at=w.starts_at, ends_at=w.ends_at, impact=w.expected_impact,
                              services=tuple(_list(w.services))) for w in rows if w.standing_key not in silent)


def _list(text: str) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []
