"""Units of work the handlers run off the event loop: one session, one commit, then delivery."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.incidents import queries, service, views
from bot.incidents.service import Ctx, DeclareRequest, IncidentError
from bot.runtime import Runtime
from bot.slack import outbox
from storage.db import session_scope
from storage.models import Incident

T = TypeVar("T")
SIMULTANEOUS = "That was already done at the same moment (by someone else or a double click); nothing more changed."
NOT_AN_INCIDENT_CHANNEL = ("`/incident {verb}` works in an incident channel. Run it in the channel of the "
                           "incident (`/incident list` shows them), or declare one with `/incident declare`.")


def declare(rt: Runtime, req: DeclareRequest) -> tuple[Incident, bool]:
    try:
        with session_scope(rt.engine) as session:
            return service.declare(Ctx(session, rt.clock(), rt.playbook), req)
    except IntegrityError:  # the same request won a race in another worker or replica
        with session_scope(rt.engine) as session:
            existing = session.exec(select(Incident).where(Incident.request_key == req.request_key)).first()
        if existing is None:
            raise
        return existing, False


def in_channel(rt: Runtime, channel_id: str, verb: str, fn: Callable[[Ctx, Incident], T]) -> T:
    """Run ``fn`` on the incident whose channel this is; refuse anywhere else."""

    def find(session: Session) -> Incident:
        incident = queries.by_channel(session, channel_id)
        if incident is None:
            raise IncidentError(NOT_AN_INCIDENT_CHANNEL.format(verb=verb))
        return incident

    return _unit_of_work(rt, find, fn)


def by_id(rt: Runtime, incident_id: int, fn: Callable[[Ctx, Incident], T], *, must_be_open: bool = True) -> T:
    def find(session: Session) -> Incident:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise IncidentError("That incident no longer exists.")
        if must_be_open and incident.status != "open":
            raise IncidentError(f"{incident.ref} is resolved; nothing to change.")
        return incident

    return _unit_of_work(rt, find, fn)


def _unit_of_work(rt: Runtime, find: Callable[[Session], Incident], fn: Callable[[Ctx, Incident], T]) -> T:
    """One session and one commit; the Slack calls it queued go out right after."""
    try:
        with session_scope(rt.engine) as session:
            result = fn(Ctx(session, rt.clock(), rt.playbook), find(session))
            queued = bool(session.info.get(outbox.QUEUED))
    except IntegrityError:  # a concurrent click or replica did the same thing first
        raise IncidentError(SIMULTANEOUS) from None
    if queued:
        rt.kick_delivery()
    return result


def open_list(rt: Runtime) -> str:
    with session_scope(rt.engine) as session:
        return views.list_text(rt.playbook, service.open_incidents(session), rt.clock())


def status(ctx: Ctx, incident: Incident) -> str:
    return views.status_text(ctx.playbook, incident, queries.roles(ctx.session, incident.id),
                             queries.latest_update(ctx.session, incident.id),
                             queries.progress(ctx.session, ctx.playbook, incident), ctx.now)


def update_modal(ctx: Ctx, incident: Incident) -> dict:
    if incident.status != "open":
        raise IncidentError(f"{incident.ref} is resolved; no more updates are due.")
    return views.update_modal(incident, queries.latest_update(ctx.session, incident.id))
