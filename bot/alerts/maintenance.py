"""The seam between alert intake and maintenance windows.

During a scheduled maintenance window, alerts for the services under maintenance are stored and
shown (their triage message is posted as usual) but must not page: no incident opens by itself.
The answer comes from the windows themselves (``bot.windows.service``): an active, scheduled
window whose services include ``service``.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.windows import service as windows


def under_maintenance(session: Session, service: str | None, now: datetime) -> bool:
    """Whether alerts for ``service`` (the playbook's ``service_label``) are expected right now."""
    return windows.under_maintenance(session, service, now)
