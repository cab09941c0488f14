"""The incident domain's entry points: each runs one unit of work (``bot.work``) around the rules
in ``service``, finding the incident first (by its channel or its id)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlmodel import Session, select

from bot.incidents import queries, service, views
from bot.incidents.service import DeclareRequest
from bot.refusal import Refusal
from bot.work import SIMULTANEOUS, Ctx, UnitOfWork
from storage.models import Incident

T = TypeVar("T")
NOT_AN_INCIDENT_CHANNEL = ("`/incident {verb}` works in an incident channel. Run it in the channel of the "
                           "incident (`/incident list` shows them), or declare one with `/incident declare`.")


def declare(work: UnitOfWork, req: DeclareRequest) -> tuple[Incident, bool]:
    """The incident and whether this request created it (a repeated request key finds the first)."""

    def first_of_the_same_request() -> tuple[Incident, bool]:  # it won a race in another worker or replica
        existing = work(lambda ctx: ctx.session.exec(
            select(Incident).where(Incident.request_key == req.request_key)).first())
        if existing is None:
            raise Refusal(SIMULTANEOUS)
        return existing, False

    return work(lambda ctx: service.declare(ctx, req),
                on_conflict=first_of_the_same_request if req.request_key else None)


def in_channel(work: UnitOfWork, channel_id: str, verb: str, fn: Callable[[Ctx, Incident], T]) -> T:
    """Run ``fn`` on the incident whose channel this is; refuse anywhere else."""

    def find(session: Session) -> Incident:
        incident = queries.by_channel(session, channel_id)
        if incident is None:
            raise Refusal(NOT_AN_INCIDENT_CHANNEL.format(verb=verb))
        return incident

    return work(lambda ctx: fn(ctx, find(ctx.session)))


def notes(work: UnitOfWork, notes: Sequence[tuple[str, str, str]]) -> list[str | Refusal]:
    """``(channel, text, author)`` notes, written in one transaction; each one's answer."""
    added = work(lambda ctx: [service.add_note(ctx, channel, text, by) for channel, text, by in notes])
    return ["Noted on the timeline." if ok else Refusal(NOT_AN_INCIDENT_CHANNEL.format(verb="note")) for ok in added]


def by_id(work: UnitOfWork, incident_id: int, fn: Callable[[Ctx, Incident], T], *, must_be_open: bool = True) -> T:
    def find(session: Session) -> Incident:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise Refusal("That incident no longer exists.")
        if must_be_open and incident.status != "open":
            raise Refusal(f"{incident.ref} is resolved; nothing to change.")
        return incident

    return work(lambda ctx: fn(ctx, find(ctx.session)))


def open_list(work: UnitOfWork) -> str:
    return work(lambda ctx: views.list_text(ctx.playbook, service.open_incidents(ctx.session), ctx.now))
