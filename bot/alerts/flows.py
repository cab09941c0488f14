"""Units of work the alert handlers run off the event loop: one session, one commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from bot.alerts import service
from bot.alerts.models import AlertBatch
from bot.alerts.service import Intake
from bot.incidents.service import Ctx, IncidentError
from bot.runtime import Runtime
from storage.alerts import AlertGroup
from storage.db import session_scope

T = TypeVar("T")
TRIES = 3


def ingest(rt: Runtime, batch: AlertBatch) -> Intake:
    """Store one notification. Two deliveries of a new group at once (a retry, two replicas) race on
    the group's and the alerts' unique keys; the loser runs again and finds the winner's rows."""
    for attempt in range(TRIES):
        try:
            with session_scope(rt.engine) as session:
                return service.ingest(Ctx(session, rt.clock(), rt.playbook), batch)
        except IntegrityError:
            if attempt == TRIES - 1:
                raise
    raise AssertionError("unreachable")


def slack_message(rt: Runtime, channel_id: str, ts: str, text: str) -> bool:
    try:
        with session_scope(rt.engine) as session:
            return service.slack_message(Ctx(session, rt.clock(), rt.playbook), channel_id, ts, text)
    except IntegrityError:  # the same event delivered twice at once
        return False


def on_group(rt: Runtime, group_id: int, fn: Callable[[Ctx, AlertGroup], T]) -> T:
    """A triage button: the group's change and its queued Slack calls in one commit."""
    try:
        with session_scope(rt.engine) as session:
            group = session.get(AlertGroup, group_id)
            if group is None:
                raise IncidentError("That alert group no longer exists.")
            return fn(Ctx(session, rt.clock(), rt.playbook), group)
    except IntegrityError:  # a double click: the other click declared it
        raise IncidentError("That was already done at the same moment; nothing more changed.") from None
