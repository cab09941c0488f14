"""What ``GET /metrics`` serves, in Prometheus' text format (``prometheus_client``).

Two kinds of figures. Counters of what this process saw since it started (alert webhooks by
outcome) are ``prometheus_client`` counters, kept in memory. Everything else is read from the
database at each scrape by ``StateCollector``: the database is the source of truth, so every
replica reports the same figures, and they survive restarts. Its queries are short: grouped
counts, and two timestamps per incident that has been acknowledged or resolved.

Histograms read from rows are cumulative over every incident ever recorded (incidents are never
deleted), so their counts only grow, as Prometheus expects of a histogram.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import case, extract, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.incidents.queries import update_overdue_since
from playbooks.models import Playbook
from storage.models import Incident, OutboundMessage
from storage.runs import FINISHED, SUCCEEDED, Run

disable_created_metrics()  # no ``_created`` series beside each counter: the start time is not a figure we keep
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ACK_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0)
"""Seconds: the severities' response times (15 min, 30 min, 1 h) fall on bucket bounds."""
RESOLVE_BUCKETS = (900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0)
VERIFIED_BACKUP_OPERATIONS = ("backup.run", "backup.verify")
"""A succeeded run of these operations leaves a verified backup (``backup.run`` verifies what it took)."""
RESTORE_TEST_OPERATIONS = ("backup.restore_test",)
QUEUED_STATES = ("pending", "sending")


class Counters:
    """One counter family: a count per label value since start (every value shown, zeros too)."""

    def __init__(self, registry: CollectorRegistry, name: str, help_text: str, label: str,
                 values: Iterable[str]) -> None:
        self._counter = Counter(name, help_text, [label], registry=registry)
        for value in values:
            self._counter.labels(value)

    def add(self, value: str, amount: int = 1) -> None:
        self._counter.labels(value).inc(amount)


class Metrics:
    """The runtime's registry: its counters, the database's figures, and gauges others add."""

    def __init__(self, engine: Engine, playbook: Playbook, clock: Clock) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.alert_webhooks = Counters(
            self.registry, "opsbot_alert_webhooks", "Alert webhooks and alerts by outcome, since start.", "outcome",
            ("received", "stored", "repeats", "unauthorized", "rejected", "failed"))
        self.registry.register(StateCollector(engine, playbook, clock))
        self._gauges = _Gauges()
        self.registry.register(self._gauges)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A gauge whose value ``read`` gives at each scrape: the place for figures a part of the bot
        keeps in memory (the scheduler's lag, ``opsbot_scheduler_lag_seconds``, is one)."""
        self._gauges.add(name, help_text, read)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Gauges(Collector):
    def __init__(self) -> None:
        self._read: list[tuple[str, str, Callable[[], float]]] = []

    def add(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self._read.append((name, help_text, read))

    def collect(self) -> Iterator[Metric]:
        for name, help_text, read in self._read:
            yield GaugeMetricFamily(name, help_text, value=read())


class StateCollector(Collector):
    """Figures read from the database at each scrape."""

    def __init__(self, engine: Engine, playbook: Playbook, clock: Clock) -> None:
        self.engine = engine
        self.playbook = playbook
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        with Session(self.engine) as session:
            yield from self._incidents(session, now)
            yield from self._runs(session, now)
            yield from self._outbox(session, now)

    # -- incidents -------------------------------------------------------------------------------
    def _incidents(self, session: Session, now: datetime) -> Iterator[Metric]:
        severities = list(self.playbook.severities)
        open_rows = session.exec(select(Incident).where(Incident.status == "open")).all()
        opened = GaugeMetricFamily("opsbot_incidents_open", "Open incidents by severity.", labels=["severity"])
        overdue = GaugeMetricFamily("opsbot_incident_updates_overdue",
                                    "Open incidents whose status update is overdue, by severity.", labels=["severity"])
        for severity in sorted(set(severities) | {i.severity for i in open_rows}):
            of = [i for i in open_rows if i.severity == severity]
            opened.add_metric([severity], len(of))
            overdue.add_metric([severity], sum(1 for i in of if update_overdue_since(self.playbook, i, now)))
        yield opened
        yield overdue
        yield self._histogram(session, "opsbot_incident_time_to_acknowledge_seconds",
                              "Time from declaration to acknowledgement, by severity (every incident recorded).",
                              ACK_BUCKETS, Incident.acknowledged_at)
        yield self._histogram(session, "opsbot_incident_time_to_resolve_seconds",
                              "Time from declaration to resolution, by severity (every incident recorded).",
                              RESOLVE_BUCKETS, Incident.resolved_at)

    def _histogram(self, session: Session, name: str, help_text: str, buckets: tuple[float, ...],
                   until: Any) -> HistogramMetricFamily:
        """Bucket counts summed in the database: one row per severity, whatever the history's size."""
        took = (select(col(Incident.severity).label("severity"),
                       _seconds(self.engine.dialect.name, until, Incident.declared_at).label("seconds"))
                .where(col(until).is_not(None)).subquery())  # each row's seconds computed once
        counts = [func.sum(case((took.c.seconds <= bound, 1), else_=0)) for bound in buckets]
        rows = session.exec(select(took.c.severity, func.count(), func.sum(took.c.seconds),  # type: ignore[call-overload]
                                   *counts).group_by(took.c.severity)).all()
        per = {severity: (0, 0.0, [0] * len(buckets)) for severity in self.playbook.severities}
        per |= {row[0]: (row[1], float(row[2] or 0), [int(c or 0) for c in row[3:]]) for row in rows}
        family = HistogramMetricFamily(name, help_text, labels=["severity"])
        for severity, (count, total, cumulative) in sorted(per.items()):
            family.add_metric([severity], [*((floatToGoString(b), c) for b, c in zip(buckets, cumulative, strict=True)),
                                           ("+Inf", count)], sum_value=total)
        return family

    # -- the executor, backups and restore tests -------------------------------------------------
    def _runs(self, session: Session, now: datetime) -> Iterator[Metric]:
        counts = session.exec(select(Run.action, Run.status, func.count()).group_by(Run.action, Run.status)).all()
        finished = CounterMetricFamily("opsbot_executor_runs",
                                       "Executor runs finished, by action and outcome (every run recorded).",
                                       labels=["action", "outcome"])
        waiting = GaugeMetricFamily("opsbot_executor_runs_unfinished",
                                    "Executor runs not finished yet, by action and status (pending, approved, "
                                    "running).", labels=["action", "status"])
        for action, status, count in sorted(counts):
            (finished if status in FINISHED else waiting).add_metric([action, status], count)
        yield finished
        yield waiting
        yield from self._last_success("opsbot_backup_last_verified", "verified backup",
                                      VERIFIED_BACKUP_OPERATIONS, session, now)
        yield GaugeMetricFamily("opsbot_backup_rpo_seconds", "The database's recovery point objective (backups.yaml).",
                                value=self.playbook.backups.objectives.database_rpo.total_seconds())
        yield from self._last_success("opsbot_restore_test_last_success", "successful restore test",
                                      RESTORE_TEST_OPERATIONS, session, now)

    def _last_success(self, name: str, what: str, operations: tuple[str, ...], session: Session,
                      now: datetime) -> Iterator[Metric]:
        actions = [key for key, action in self.playbook.actions.items() if action.operation in operations]
        last = session.exec(select(func.max(Run.finished_at)).where(Run.status == SUCCEEDED)
                            .where(col(Run.action).in_(actions))).one() if actions else None
        yield GaugeMetricFamily(f"{name}_age_seconds", f"Seconds since the last {what} (+Inf: never).",
                                value=(now - last).total_seconds() if last else math.inf)
        yield GaugeMetricFamily(f"{name}_timestamp_seconds", f"When the last {what} finished (0: never).",
                                value=last.timestamp() if last else 0.0)

    # -- the outbox --------------------------------------------------------------------------------
    def _outbox(self, session: Session, now: datetime) -> Iterator[Metric]:
        count, oldest = session.exec(select(func.count(), func.min(OutboundMessage.created_at))
                                     .where(col(OutboundMessage.state).in_(QUEUED_STATES))).one()
        yield GaugeMetricFamily("opsbot_outbox_queued_calls", "Slack calls recorded and not delivered yet.",
                                value=count)
        yield GaugeMetricFamily("opsbot_outbox_oldest_queued_age_seconds",
                                "Age of the oldest Slack call not delivered yet (0: none queued).",
                                value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)



def _seconds(dialect: str, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in seconds, as SQL: SQLite keeps datetimes as text, PostgreSQL as timestamps.
    SQLite's Julian days carry about 20 µs of rounding at today's dates: rounded to the millisecond, a
    time to acknowledge of exactly 15 minutes stays inside the 15-minute bucket."""
    if dialect == "sqlite":
        return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)
    return extract("epoch", later - earlier)
