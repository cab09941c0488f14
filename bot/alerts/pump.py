"""Background work for alerts, off the webhook's request path: declare the incidents paging groups
are owed and provision their channels, post or edit each due group message (triage message,
incident alert summary, all-resolved prompt), then deliver the outbox. Run after each stored
notification (coalesced: at most one run queued behind the one running) and on every scheduler
tick."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from bot.alerts import flows, views
from bot.alerts.views import GroupState
from bot.clock import Clock
from bot.incidents.provision import Provisioner
from bot.slack import outbox
from bot.work import UnitOfWork
from playbooks.models import Playbook
from storage.alerts import Alert, AlertGroup
from storage.db import session_scope
from storage.models import Incident, OutboundMessage

log = structlog.get_logger(__name__)
CHUNK = 25  # Slack calls delivered per pass
RENDER_CHUNK = 5  # groups rendered per transaction: short, so a webhook never waits long for SQLite's one writer
PAUSE = 0.005  # between passes: webhooks share the database (one connection on SQLite) and the GIL
QUIET = 0.05  # intake counts as busy this long after a webhook...
MAX_YIELD = 1.0  # ...and while it is, each pass waits up to this long for a gap (Slack takes ~1 message/s/channel)


class AlertPump:
    def __init__(self, work: UnitOfWork, engine: Engine, playbook: Playbook, clock: Clock,
                 provisioner: Provisioner, deliver: Callable[[int], int]) -> None:
        self._work = work
        self._engine = engine
        self._playbook = playbook
        self._clock = clock
        self._provisioner = provisioner
        self._deliver = deliver
        self._lock = threading.Lock()
        self._running = threading.RLock()  # one run at a time (kicks and the scheduler tick)
        self._queued = False
        self._intake_at = 0.0

    def note_intake(self) -> None:
        """A webhook arrived. During a storm, storing alerts comes first: messages (which Slack
        rate-limits anyway) wait for gaps; channels of new incidents are still made at once."""
        self._intake_at = time.monotonic()

    def _pause(self) -> None:
        deadline = time.monotonic() + MAX_YIELD
        time.sleep(PAUSE)
        while time.monotonic() - self._intake_at < QUIET and time.monotonic() < deadline:
            time.sleep(QUIET / 2)

    def kick(self, pool: Executor) -> None:
        """Queue a run unless one is already waiting: a storm of webhooks costs a few runs, not one each."""
        with self._lock:
            if self._queued:
                return
            self._queued = True
        pool.submit(self._run_queued)

    def _run_queued(self) -> None:
        with self._running:
            with self._lock:
                self._queued = False
            try:
                self.run()
            except Exception:  # retried on the next kick or tick
                log.exception("alert_pump_failed")

    def run(self) -> None:
        with self._running:
            self._run()

    def _run(self) -> None:
        self._page(provision=True)
        while self.flush_due() == RENDER_CHUNK:
            self._pause()
            self._page()
        while self._deliver(CHUNK) == CHUNK:
            self._pause()
            self._page()

    def _page(self, *, provision: bool = False) -> None:
        """Incidents owed to paging groups are declared and their channels set up before anything
        else, and again between passes: a page that arrives during a storm does not wait behind
        the storm's triage messages. Channels owed for other reasons are claimed at the start."""
        if self.declare_due() or provision:
            for incident_id in self._provisioner.claim_due():
                self._provisioner.provision(incident_id)

    def declare_due(self) -> int:
        """Declare the incident of every paging group that is owed one (each its own commit; the
        channels are then provisioned by this same run, at once: a page is not held back by a storm)."""
        now = self._clock()
        with Session(self._engine) as session:
            due = session.exec(select(AlertGroup.id).where(col(AlertGroup.declare_due_at) <= now)
                               .order_by(col(AlertGroup.declare_due_at))).all()
        return sum(1 for group_id in due if group_id is not None
                   and flows.declare_due(self._work, group_id) is not None)

    def flush_due(self) -> int:
        """Render every group whose message is due; each claimed by compare-and-set on its due time."""
        now = self._clock()
        with Session(self._engine) as session:
            due = session.exec(select(AlertGroup.id, AlertGroup.summary_due_at)
                               .where(col(AlertGroup.summary_due_at) <= now)
                               .order_by(col(AlertGroup.summary_due_at)).limit(RENDER_CHUNK)).all()
        done = 0
        with session_scope(self._engine) as session:
            for group_id, due_at in due:
                done += self._render(session, group_id, due_at, now)
        return done

    def _render(self, session: Session, group_id: int, due_at: datetime, now: datetime) -> bool:
        group = session.get(AlertGroup, group_id)
        if group is None or group.declare_due_at is not None:
            return False  # gone, or its incident is still owed: its message waits for the incident
        incident = session.get(Incident, group.incident_id) if group.incident_id else None
        if incident is not None and incident.channel_id is None:
            return False  # the channel is not there yet: stays due until provisioning made it
        claimed = session.exec(update(AlertGroup)  # type: ignore[call-overload]
                               .where(col(AlertGroup.id) == group_id)
                               .where(col(AlertGroup.summary_due_at) == due_at)
                               .values(summary_due_at=None, summary_sent_at=now))
        if claimed.rowcount != 1:
            return False
        session.refresh(group)
        state = _state(session, group)
        if incident is not None:
            self._summary(session, group, incident, state, now)
        else:
            self._triage(session, group, state, now)
        return True

    def _summary(self, session: Session, group: AlertGroup, incident: Incident, state: GroupState,
                 now: datetime) -> None:
        assert incident.channel_id is not None
        text = views.summary_text(state)
        blocks = views.summary_blocks(state, incident)
        self._show(session, group, incident.channel_id, text, blocks, now, incident_id=incident.id,
                   purpose="alert_summary")
        if group.status == "resolved" and group.prompted_at is None and incident.status == "open":
            outbox.post(session, now, incident.channel_id, views.resolve_prompt_text(group),
                        views.resolve_prompt_blocks(group, incident), incident_id=incident.id,
                        purpose="alert_resolve_prompt")
            group.prompted_at = now

    def _triage(self, session: Session, group: AlertGroup, state: GroupState, now: datetime) -> None:
        if group.source == "slack":
            return  # the offer under the integration's message is all it gets
        text = views.summary_text(state)
        self._show(session, group, self._playbook.alerts.channel, text,
                   views.triage_blocks(state, self._playbook), now, incident_id=None, purpose="alert_triage")

    def _show(self, session: Session, group: AlertGroup, channel: str, text: str, blocks: list[dict],
              now: datetime, *, incident_id: int | None, purpose: str) -> None:
        anchor = session.get(OutboundMessage, group.message_id) if group.message_id else None
        if anchor is None:
            row = outbox.post(session, now, channel, text, blocks, incident_id=incident_id,
                              purpose=purpose)
            session.flush()
            group.message_id = row.id
        else:
            outbox.edit(session, now, anchor, text, blocks, purpose=purpose)


def _state(session: Session, group: AlertGroup) -> GroupState:
    firing = list(session.exec(select(Alert).where(Alert.group_id == group.id, Alert.status == "firing")
                               .order_by(col(Alert.starts_at).desc(), col(Alert.id)).limit(views.SHOWN)).all())
    counts = dict(session.exec(select(Alert.status, func.count()).where(Alert.group_id == group.id)  # type: ignore[call-overload]
                               .group_by(Alert.status)).all())
    return GroupState(group, firing, counts.get("firing", 0), counts.get("resolved", 0))
