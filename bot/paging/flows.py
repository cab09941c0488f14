"""Entry points for paging: ``/oncall contact …`` and the acknowledge link, each one unit of work
(``bot.work``) around ``service``."""

from __future__ import annotations

from dataclasses import dataclass

from bot.incidents import service as incidents
from bot.paging import commands as cmd
from bot.paging import service
from bot.paging.senders import Senders
from bot.slack import outbox
from bot.work import Ctx, UnitOfWork
from storage.models import Incident
from storage.paging import Page


def contact(work: UnitOfWork, senders: Senders, user: str, command: cmd.ContactCommand) -> str:
    def run(ctx: Ctx) -> str:
        match command:
            case cmd.AddContact():
                return service.add_contact(ctx, user, command, senders.off.get(command.kind))
            case cmd.RemoveContact(number):
                return service.remove_contact(ctx, user, number)
            case _:
                return service.listing(ctx, user)
    return work(run)


@dataclass(frozen=True)
class PageView:
    """What the acknowledge page shows."""

    incident_ref: str
    title: str
    level: int
    user_id: str
    open: bool
    stopped: bool


def page_view(work: UnitOfWork, page_id: int) -> PageView | None:
    """The page a link names, for the confirmation page; changes nothing (a GET)."""
    def read(ctx: Ctx) -> PageView | None:
        page = ctx.session.get(Page, page_id)
        incident = ctx.session.get(Incident, page.incident_id) if page else None
        if page is None or incident is None:
            return None
        return PageView(incident.ref, ctx.redact(incident.title), page.level, page.user_id,
                        incident.status == "open", page.stopped_at is not None)
    return work(read)


def acknowledge(work: UnitOfWork, page_id: int) -> str | None:
    """The POST of an acknowledge link: acknowledges the incident (if nobody has yet) as the person
    paged, stops every page of the incident, and puts it on the timeline. None: no such page."""
    def ack(ctx: Ctx) -> str | None:
        page = ctx.session.get(Page, page_id)
        incident = ctx.session.get(Incident, page.incident_id) if page else None
        if page is None or incident is None:
            return None
        if incident.status != "open":
            return f"{incident.ref} is resolved; nothing to acknowledge."
        if page.stopped_at is not None:
            return "Already acknowledged: the pages for this incident have stopped."
        if incident.acknowledged_at:
            outbox.post(ctx.session, ctx.now, incident.channel_id or "", f":white_check_mark: <@{page.user_id}> "
                        f"acknowledged their page (escalation level {page.level}); the repeat pages stopped.",
                        incident_id=incident.id, purpose="page_ack")
        else:
            incidents.acknowledge(ctx, incident, page.user_id)  # announces it, and stops the pages
        service.stop_pages(ctx, incident.id or 0, page.user_id)
        incidents.record(ctx, incident, page.user_id, "page_acknowledged",
                         f"Page acknowledged by <@{page.user_id}> (escalation level {page.level}) from its link; "
                         "the repeat pages stopped")
        return f"Acknowledged {incident.ref}: the repeat pages have stopped. Join the incident channel in Slack."
    return work(ack)
