"""The seam between alert intake and maintenance windows.

During a scheduled maintenance window, alerts for the services under maintenance are stored and
shown (their triage message is posted as usual) but must not page: no incident opens by itself.
Maintenance windows do not exist yet, so nothing is ever under maintenance. When they land, this
function asks their service, for example "is there an active window at ``now`` whose services
include ``service``", and ``bot.alerts.service`` needs no other change.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session


def under_maintenance(session: Session, service: str | None, now: datetime) -> bool:
    """Whether alerts for ``service`` (the playbook's ``service_label``) are expected right now."""
    del session, service, now  # no maintenance windows yet
    return False
