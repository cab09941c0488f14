"""The unit of work: what every domain flow is handed, and the one runner that hands it over.

A flow is a function of a ``Ctx``. It reads and changes rows through ``ctx.session``, records what
happened, and queues the Slack calls that report it in the outbox (``bot.slack.outbox``); it never
calls Slack itself. ``UnitOfWork`` runs a flow in one session and one commit and only then, when
the flow queued Slack calls, starts their delivery: the state change is durable before anyone
hears of it (docs/architecture.md, "Commit, then tell Slack").

A flow that says no raises ``bot.refusal.Refusal``. Two writers racing on a unique key (a double
click, a replayed request, a second replica) surface as ``IntegrityError``; the runner turns that
into the one "simultaneous" refusal, unless the caller resolves the race itself (``on_conflict``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import committed
from bot.clock import Clock
from bot.executor.plan import Lookups, NoLookups
from bot.refusal import Refusal
from bot.slack import outbox
from bot.slack.directory import Directory
from playbooks.models import Playbook
from storage.db import session_scope

T = TypeVar("T")
log = structlog.get_logger(__name__)
BOT = "opsbot"
"""The author of what the bot does by itself, on timelines, change records and audits."""
SIMULTANEOUS = "That was already done at the same moment (by someone else or a double click); nothing more changed."


@dataclass(frozen=True)
class Ctx:
    session: Session
    now: datetime
    playbook: Playbook
    directory: Directory
    redact: Callable[[str], str] = str
    """Removes the configured secrets (and anything shaped like a token) from text bound for Slack."""
    lookups: Lookups = NoLookups()
    """Read-only facts operations look up while building a plan (``bot.executor.plan``)."""

    def shown(self, text: str, blocks: list[dict] | None = None) -> tuple[str, list[dict] | None]:
        """A message as it may be posted: secrets (even ones a requester typed) replaced."""
        return self.redact(text), json.loads(self.redact(json.dumps(blocks))) if blocks else blocks


class UnitOfWork:
    """Built once at start-up (``bot.runtime``) and handed to every domain."""

    def __init__(self, engine: Engine, playbook: Playbook, clock: Clock, directory: Directory, *,
                 deliver: Callable[[], None] | None = None, redact: Callable[[str], str] = str,
                 lookups: Lookups | None = None) -> None:
        self.engine = engine
        self.playbook = playbook
        self.clock = clock
        self.directory = directory
        self.redact = redact
        self.lookups = lookups or NoLookups()
        self._deliver = deliver
        self.observers: list[Callable[[committed.Changed], None]] = []
        """Told what each unit of work changed, after its commit (the Home tab's refresh)."""

    def __call__(self, flow: Callable[[Ctx], T], *, on_conflict: Callable[[], T] | None = None) -> T:
        """Run ``flow`` in one transaction; deliver what it queued once it is committed.

        ``on_conflict`` is for the few callers that resolve a lost race themselves (a repeated
        request key finds the first request; alert intake tries again): it runs after the
        rollback, and its result is the answer."""
        try:
            with session_scope(self.engine) as session:
                result = flow(Ctx(session, self.clock(), self.playbook, self.directory, self.redact, self.lookups))
                queued = bool(session.info.get(outbox.QUEUED))
            changed = committed.of(session)
        except IntegrityError:
            if on_conflict is None:
                raise Refusal(SIMULTANEOUS) from None
            return on_conflict()
        if queued and self._deliver is not None:
            self._deliver()
        if changed:
            for observe in self.observers:
                try:
                    observe(changed)
                except Exception:  # the work is committed: an observer's failure must not look like the flow's
                    log.exception("commit_observer_failed", observer=getattr(observe, "__qualname__", str(observe)))
        return result
