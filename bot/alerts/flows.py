"""The alert domain's entry points: each runs one unit of work (``bot.work``) around the rules in
``service``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bot.alerts import service
from bot.alerts.payloads import AlertBatch
from bot.alerts.service import Intake
from bot.refusal import Refusal
from bot.work import Ctx, UnitOfWork
from storage.alerts import AlertGroup

T = TypeVar("T")
TRIES = 3


def ingest(work: UnitOfWork, batch: AlertBatch, tries: int = TRIES) -> Intake:
    """Store one notification. Two deliveries of a new group at once (a retry, two replicas) race on
    the group's and the alerts' unique keys; the loser runs again and finds the winner's rows."""
    return work(lambda ctx: service.ingest(ctx, batch),
                on_conflict=(lambda: ingest(work, batch, tries - 1)) if tries > 1 else None)


def declare_due(work: UnitOfWork, group_id: int) -> int | None:
    """The incident a paging group is owed (``service.declare_due``): its id, or None when there was
    nothing to do. The claim and the declaration are one commit."""
    def declared(ctx: Ctx) -> int | None:
        incident = service.declare_due(ctx, group_id)
        return incident.id if incident is not None else None

    return work(declared)


def slack_message(work: UnitOfWork, channel_id: str, ts: str, text: str) -> bool:
    """False when this message was seen already (the same event delivered twice at once, too)."""
    return work(lambda ctx: service.slack_message(ctx, channel_id, ts, text), on_conflict=lambda: False)


def on_group(work: UnitOfWork, group_id: int, fn: Callable[[Ctx, AlertGroup], T]) -> T:
    """A triage button: the group's change and its queued Slack calls in one commit."""

    def found(ctx: Ctx) -> T:
        group = ctx.session.get(AlertGroup, group_id)
        if group is None:
            raise Refusal("That alert group no longer exists.")
        return fn(ctx, group)

    return work(found)
