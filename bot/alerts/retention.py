"""Alert retention: resolved alert groups and alerts are kept for the pack's ``retention`` (30 days
by default) and then deleted, so the alert tables do not grow without bound.

A periodic step, not every tick: at most once per ``EVERY`` by the injected clock, in batches of
short transactions with a pause between them, so a large backlog (the first run after an upgrade)
never holds the database (SQLite's one writer) long enough to delay a webhook. It runs as
background work (``Runtime.alert_retention``), kicked by the tick; deleting twice is harmless, so
replicas need no claim.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import Clock
from playbooks.models import Playbook
from storage.alerts import prune_alerts, prune_groups
from storage.db import session_scope

log = structlog.get_logger(__name__)
EVERY = timedelta(minutes=10)
GROUPS = 200  # groups a transaction, with all their alerts
ALERTS = 1000  # resolved alerts of groups that live on, a transaction
PAUSE = 0.05  # between batches: webhooks get the database


class AlertRetention:
    def __init__(self, engine: Engine, playbook: Playbook, clock: Clock) -> None:
        self._engine = engine
        self._keep = playbook.alerts.retention
        self._clock = clock
        self._next_at: datetime | None = None

    def run_due(self) -> tuple[int, int]:
        """Prune when a period has passed since the last pass (the first pass runs at start-up)."""
        now = self._clock()
        if self._next_at is not None and now < self._next_at:
            return 0, 0
        self._next_at = now + EVERY
        return self.prune(now)

    def prune(self, now: datetime) -> tuple[int, int]:
        """Delete what resolved more than ``retention`` before ``now``: (groups with their alerts,
        alerts of groups that live on)."""
        before = now - self._keep
        groups = self._batches(lambda session: prune_groups(session, now, before, GROUPS), GROUPS)
        alerts = self._batches(lambda session: prune_alerts(session, before, ALERTS), ALERTS)
        if groups or alerts:
            log.info("alerts_pruned", groups=groups, alerts=alerts, resolved_before=before.isoformat())
        return groups, alerts

    def _batches(self, batch: Callable[[Session], int], size: int) -> int:
        total = 0
        while True:
            with session_scope(self._engine) as session:
                deleted = batch(session)
            total += deleted
            if deleted < size:
                return total
            time.sleep(PAUSE)
