"""What the status page shows, read only from published customer notices and scheduled
maintenance windows: public titles, impact and the latest published notice, never an internal
title, update, channel or person."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session, col, select

from playbooks.models import Playbook
from storage.models import Incident
from storage.public import PUBLISHED, RESOLUTION, CustomerNotice
from storage.windows import SCHEDULED, MaintenanceWindow

PAGE_SIZE = 20
"""Incidents per page: what one request renders, however many are ongoing or in the history."""


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
    """Reads only the incidents the page can show: those still open, and those resolved within
    ``history_days`` (two indexed reads of ``incident.resolved_at``), so its cost does not grow with
    history. An incident resolved before that leaves the page even if no resolution notice was
    ever published for it."""
    since = now - timedelta(days=playbook.public.history_days)
    shown = select(CustomerNotice.incident_id, CustomerNotice.id, CustomerNotice.kind, CustomerNotice.public_title,
                   CustomerNotice.impact, CustomerNotice.body, CustomerNotice.published_at, Incident.declared_at,
                   Incident.resolved_at) \
        .join(Incident, col(Incident.id) == col(CustomerNotice.incident_id)) \
        .where(col(CustomerNotice.status) == PUBLISHED)
    notices = [*session.exec(shown.where(col(Incident.resolved_at).is_(None))).all(),
               *session.exec(shown.where(col(Incident.resolved_at) >= since)).all()]
    notices.sort(key=lambda row: (row.published_at, row.id))
    latest = {row.incident_id: row for row in notices}  # columns, not ORM objects: built on a thread that
    # shares the GIL with the event loop, so the less Python it runs the less it delays acks
    current, history = [], []
    for row in latest.values():
        public = _incident(row)
        if public.resolved_at is None:
            current.append(public)
        elif public.resolved_at >= since:
            history.append(public)
    return StatusPage(
        title=playbook.public.status_page_title, generated_at=now,
        current=tuple(sorted(current, key=lambda i: i.started_at, reverse=True)),
        maintenance=_windows(session, playbook, now),
        history=tuple(sorted(history, key=lambda i: i.started_at, reverse=True)),
    )


@dataclass(frozen=True)
class Paged:
    """One page of the status page: the banner and maintenance as on every page, and ``PAGE_SIZE``
    incidents of the list that runs from the newest ongoing one to the oldest resolved one."""

    page: StatusPage
    number: int
    pages: int
    current: tuple[PublicIncident, ...]
    history: tuple[PublicIncident, ...]


def paged(page: StatusPage, number: int) -> Paged | None:
    """Page ``number`` (from 1), or None past the last page; page 1 always exists."""
    pages = max(1, -(-(len(page.current) + len(page.history)) // PAGE_SIZE))
    if not 1 <= number <= pages:
        return None
    first, last = (number - 1) * PAGE_SIZE, number * PAGE_SIZE
    skipped = max(0, first - len(page.current))
    room = max(0, last - max(first, len(page.current)))
    return Paged(page, number, pages, current=page.current[first:last],
                 history=page.history[skipped:skipped + room])


def _incident(latest: Row[Any]) -> PublicIncident:
    """From the incident's latest published notice. Started and resolved are the incident's own
    times (those its notices state), not when the notices went out: a notice approved an hour into
    an outage does not move its start."""
    resolved = (latest.resolved_at or latest.published_at) if latest.kind == RESOLUTION else None
    return PublicIncident(title=latest.public_title, impact=latest.impact, latest=latest.body,
                          latest_at=latest.published_at, started_at=latest.declared_at, resolved_at=resolved)


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
