"""Units of work the `/change` handler runs off the event loop: one session, one commit, then the
queued Slack calls go out."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.changes import service, views
from bot.changes.models import ChangeError, ChangeForm
from bot.clock import Clock
from bot.executor.approvals import Directory
from bot.incidents import queries as incident_queries
from bot.slack import outbox
from playbooks.models import Playbook
from storage.changes import ChangeRequest
from storage.db import session_scope
from storage.models import Incident

T = TypeVar("T")
SIMULTANEOUS = "That was already done at the same moment (by someone else or a double click); nothing more changed."
_CHANNEL = re.compile(r"<#(C[A-Z0-9]+)(?:\|[^>]*)?>")
_INCIDENT = re.compile(r"(?:INC-)?0*([0-9]{1,9})", re.IGNORECASE)
_WINDOW = re.compile(r"(?:window\s+(?:MW-)?|MW-)([0-9]{1,9})", re.IGNORECASE)


class ChangeDesk:
    def __init__(self, engine: Engine, playbook: Playbook, clock: Clock, directory: Directory,
                 kick_delivery: Callable[[], None]) -> None:
        self.engine = engine
        self.playbook = playbook
        self.clock = clock
        self.directory = directory
        self._kick = kick_delivery

    def _unit(self, fn: Callable[[service.Ctx], T]) -> T:
        try:
            with session_scope(self.engine) as session:
                result = fn(service.Ctx(session, self.clock(), self.playbook, self.directory))
                queued = bool(session.info.get(outbox.QUEUED))
        except IntegrityError:  # a concurrent click or replica did the same thing first
            raise ChangeError(SIMULTANEOUS) from None
        if queued:
            self._kick()
        return result

    def submit(self, form: ChangeForm, requester: str, request_key: str | None) -> tuple[str, bool]:
        try:
            return self._unit(lambda ctx: _numbered(service.submit(ctx, form, requester, request_key)))
        except ChangeError:
            if request_key is None:
                raise
            with session_scope(self.engine) as session:  # the same form won a race in another worker
                existing = session.exec(select(ChangeRequest).where(ChangeRequest.request_key == request_key)).first()
            if existing is None:
                raise
            return existing.number, False

    def approver_problem(self, form: ChangeForm, requester: str) -> str | None:
        return service.approver_problem(self.playbook, self.directory, form, requester)

    def by_id(self, change_id: int, fn: Callable[[service.Ctx, ChangeRequest], T]) -> T:
        return self._unit(lambda ctx: fn(ctx, service.get(ctx.session, change_id)))

    def by_number(self, number: str, fn: Callable[[service.Ctx, ChangeRequest], T]) -> T:
        return self._unit(lambda ctx: fn(ctx, service.find(ctx.session, number)))

    def show(self, number: str) -> str:
        with session_scope(self.engine) as session:
            cr = service.find(session, number)
            return views.show_text(self.playbook, cr, service.ticks(session, cr), service.timeline(session, cr))

    def list(self) -> str:
        with session_scope(self.engine) as session:
            return views.list_text(self.playbook, service.recent(session))

    def link(self, number: str, target: str, user: str) -> str:
        """``target``: ``#incident-channel`` (escaped by Slack), ``INC-0001``, an incident id, or
        ``window <id>`` / ``MW-<id>`` for a maintenance window."""
        window = _WINDOW.fullmatch(target.strip())
        if window or target.lower().startswith(("window", "mw-")):
            if window is None:
                raise ChangeError("Give the maintenance window's number, like `window 3` or `MW-3`.")
            window_id = int(window.group(1))
            return self.by_number(number, lambda ctx, cr: service.link_window(
                ctx, cr, window_id, user, exists=_window_exists(ctx.session, window_id)))
        return self.by_number(number, lambda ctx, cr: service.link_incident(
            ctx, cr, _incident(ctx.session, target), user))


def _numbered(result: tuple[ChangeRequest, bool]) -> tuple[str, bool]:
    return result[0].number, result[1]


def _incident(session: Session, target: str) -> Incident:
    channel = _CHANNEL.fullmatch(target.strip())
    number = _INCIDENT.fullmatch(target.strip())
    incident = (incident_queries.by_channel(session, channel.group(1)) if channel
                else session.get(Incident, int(number.group(1))) if number else None)
    if incident is None:
        raise ChangeError(f"{target} is not an incident: give its channel (#incident-…), its reference (INC-0001) "
                          "or `window <id>` for a maintenance window.")
    return incident


def _window_exists(session: Session, window_id: int) -> bool | None:
    """Checked against ``storage.maintenance`` when that table exists; None (unchecked) before."""
    try:
        module = importlib.import_module("storage.maintenance")
    except ImportError:
        return None
    table = getattr(module, "MaintenanceWindow", None)
    if table is None or not inspect(session.connection()).has_table(table.__tablename__):
        return None
    return session.get(table, window_id) is not None
