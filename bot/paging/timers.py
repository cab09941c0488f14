"""Repeat pages for the scheduler tick (docs/architecture.md, "Timers are data"): a page whose
``next_round_at`` is due, claimed by compare-and-set, plans its next round of sends through each of
the person's contacts and its next repeat, until it is acknowledged or the incident resolved."""

from __future__ import annotations

from sqlmodel import col, select

from bot.paging import service
from bot.timers import claim
from bot.work import Ctx, UnitOfWork
from storage.models import Incident
from storage.paging import Page


class PageTimers:
    def __init__(self, work: UnitOfWork) -> None:
        self._work = work

    def run_due(self) -> int:
        """Plan every due repeat once; returns how many were planned."""
        due = self._work(lambda ctx: ctx.session.exec(
            select(Page.id).where(col(Page.next_round_at) <= ctx.now).where(col(Page.stopped_at).is_(None))).all())
        return sum(self._work(lambda ctx, i=page_id: _repeat(ctx, i)) for page_id in due if page_id is not None)


def _repeat(ctx: Ctx, page_id: int) -> int:
    page = claim(ctx, Page, page_id, "next_round_at", wanted=lambda p: p.stopped_at is None)
    if page is None:
        return 0
    incident = ctx.session.get(Incident, page.incident_id)
    if incident is None or incident.status != "open":
        service.stop_pages(ctx, page.incident_id, "resolved")
        return 0
    page.round += 1
    page.next_round_at = ctx.now + service.repeat_every(ctx.playbook, page.level)
    service.plan_round(ctx, page)
    return 1
