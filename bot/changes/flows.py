"""The change domain's entry points: each runs one unit of work (``bot.work``) around the rules in
``service``, finding the change request first (by its number or its id)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session, select

from bot.changes import service, views
from bot.changes.commands import LinkIncident, LinkWindow, StepName, not_an_incident
from bot.changes.forms import ChangeForm
from bot.incidents import queries as incident_queries
from bot.refusal import Refusal
from bot.work import SIMULTANEOUS, Ctx, UnitOfWork
from storage.changes import ChangeRequest
from storage.models import Incident

T = TypeVar("T")


def submit(work: UnitOfWork, form: ChangeForm, requester: str, request_key: str | None) -> tuple[str, bool]:
    """The request's number and whether this submission created it (a repeated form finds the first)."""

    def first_of_the_same_form() -> tuple[str, bool]:  # it won a race in another worker or replica
        existing = work(lambda ctx: ctx.session.exec(
            select(ChangeRequest).where(ChangeRequest.request_key == request_key)).first())
        if existing is None:
            raise Refusal(SIMULTANEOUS)
        return existing.number, False

    def recorded(ctx: Ctx) -> tuple[str, bool]:
        cr, created = service.submit(ctx, form, requester, request_key)
        return cr.number, created

    return work(recorded, on_conflict=first_of_the_same_form if request_key else None)


def approver_problem(work: UnitOfWork, form: ChangeForm, requester: str) -> str | None:
    return work(lambda ctx: service.approver_problem(ctx, form, requester))


def by_id(work: UnitOfWork, change_id: int, fn: Callable[[Ctx, ChangeRequest], T]) -> T:
    return work(lambda ctx: fn(ctx, service.get(ctx.session, change_id)))


def by_number(work: UnitOfWork, number: str, fn: Callable[[Ctx, ChangeRequest], T]) -> T:
    return work(lambda ctx: fn(ctx, service.find(ctx.session, number)))


def show(work: UnitOfWork, number: str) -> str:
    return by_number(work, number, lambda ctx, cr: views.show_text(
        ctx.playbook, cr, service.ticks(ctx.session, cr), service.timeline(ctx.session, cr)))


def listing(work: UnitOfWork) -> str:
    return work(lambda ctx: views.list_text(ctx.playbook, service.recent(ctx.session)))


def step(work: UnitOfWork, change: int | str, name: StepName, user: str) -> str:
    """A step of the lifecycle, by the request's id (a button) or number (``/change <step>``)."""

    def stepped(ctx: Ctx, cr: ChangeRequest) -> str:
        return service.step(ctx, cr, name, user)

    return by_id(work, change, stepped) if isinstance(change, int) else by_number(work, change, stepped)


def link(work: UnitOfWork, command: LinkIncident | LinkWindow, user: str) -> str:
    if isinstance(command, LinkWindow):
        return by_number(work, command.number, lambda ctx, cr: service.link_window(ctx, cr, command.window_id, user))
    return by_number(work, command.number, lambda ctx, cr: service.link_incident(
        ctx, cr, _incident(ctx.session, command), user))


def _incident(session: Session, named: LinkIncident) -> Incident:
    incident = (incident_queries.by_channel(session, named.channel_id) if named.channel_id
                else session.get(Incident, named.incident_id) if named.incident_id is not None else None)
    if incident is None:
        raise Refusal(not_an_incident(named.given))
    return incident
