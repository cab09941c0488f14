"""Entry points for follow-ups: each runs one unit of work (``bot.work``) around ``service``.
Adding one from an incident channel goes through ``incidents.service.carry_out``."""

from __future__ import annotations

from datetime import date

from bot.followups import queries, service, views
from bot.refusal import Refusal
from bot.slack.reply import Reply
from bot.work import Ctx, UnitOfWork
from storage.followups import FollowUp
from storage.models import Incident


def mine(work: UnitOfWork, user: str) -> Reply:
    def render(ctx: Ctx) -> Reply:
        found = queries.of_user(ctx.session, user)
        return views.listing("Your open follow-ups", found, _refs(ctx, found), service.today(ctx), owner=False,
                             empty="You have no open follow-ups. `/followups all` lists everyone's.")
    return work(render)


def all_open(work: UnitOfWork) -> Reply:
    def render(ctx: Ctx) -> Reply:
        found = queries.open_followups(ctx.session)
        return views.listing("Open follow-ups", found, _refs(ctx, found), service.today(ctx),
                             empty="No open follow-ups.")
    return work(render)


def done(work: UnitOfWork, followup_id: int, by: str) -> str:
    def mark(ctx: Ctx) -> str:
        followup = ctx.session.get(FollowUp, followup_id)
        if followup is None:
            raise Refusal(f"There is no follow-up FU-{followup_id}.")
        return service.mark_done(ctx, followup, by)
    return work(mark)


def add_from_form(work: UnitOfWork, incident_id: int, owner: str, due_on: date, text: str, by: str,
                  request_key: str) -> FollowUp:
    def add(ctx: Ctx) -> FollowUp:
        incident = ctx.session.get(Incident, incident_id)
        if incident is None:
            raise Refusal("That incident no longer exists.")
        return service.add(ctx, incident, owner, due_on, text, by, request_key)

    def first_of_the_same_request() -> FollowUp:  # a double submit won by another worker or replica
        return work(add)

    return work(add, on_conflict=first_of_the_same_request)


def form(ctx: Ctx, incident: Incident) -> dict:
    return views.form(incident, service.today(ctx))


def _refs(ctx: Ctx, followups: list[FollowUp]) -> dict[int, str]:
    ids = {f.incident_id for f in followups}
    return {i: incident.ref for i in ids if (incident := ctx.session.get(Incident, i)) is not None}
