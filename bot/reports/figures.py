"""How well we respond, as figures: pure functions of what was recorded (an incident's timeline
entries, its follow-ups and linked changes, the executor's runs, the change requests) and of the
pack's targets. No database and no clock here: ``bot.reports.queries`` reads the rows into the
small values below, and the caller says which period and which instant ``until`` is, so the same
history always gives the same figures (tests feed it a scripted history with known answers).

Definitions (docs/reports.md says them for people):
- TTA: declaration → first acknowledgement; TTR: declaration → resolution (the last one, when an
  incident was reopened). Median and p90 interpolate between the closest ranks.
- acknowledged in time: within the ``response_time`` of the severity in force when it was
  acknowledged (the target the bot's own deadline enforced then); an incident still unacknowledged
  once that target passed counts as late.
- updates: an update is owed ``update_every`` (of the severity in force) after the declaration,
  the previous update, a severity change or a reopening (as the bot plans its reminders). A human
  update posted by then is on time, after it late; an incident resolved (or still open at
  ``until``) past an owed update that never came counts one missed.
- severity: incidents are counted under their final severity; ``highest`` is the worst they reached.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

ORDER = ("P0", "P1", "P2", "P3")  # worst first


@dataclass(frozen=True)
class Event:
    """One timeline entry that matters to the figures: ``declared`` (``severity``), ``severity``
    (the new one), ``acknowledged``, ``update``, ``escalation`` (``level``), ``resolved``, ``reopened``."""

    at: datetime
    kind: str
    severity: str | None = None
    level: int | None = None


@dataclass(frozen=True)
class FollowUpFact:
    due_on: date
    created_at: datetime
    done_at: datetime | None


@dataclass(frozen=True)
class IncidentHistory:
    id: int
    ref: str
    title: str
    declared_at: datetime
    events: tuple[Event, ...]
    """In the order they happened."""
    followups: tuple[FollowUpFact, ...] = ()
    changes: tuple[str, ...] = ()
    """Change requests linked to the incident (``CR-…``)."""


@dataclass(frozen=True)
class Targets:
    """What the pack asks for, per severity and for backups."""

    response_time: Mapping[str, timedelta]
    update_every: Mapping[str, timedelta | None]
    rpo: timedelta
    rto: timedelta


@dataclass(frozen=True)
class IncidentFigures:
    id: int
    ref: str
    title: str
    declared_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    severity: str
    """Final (as of ``until``)."""
    highest: str
    tta: timedelta | None
    ttr: timedelta | None
    acknowledged_in_time: bool | None
    """None while the target has not passed yet."""
    updates_on_time: int
    updates_late: int
    updates_missed: int
    escalation_level: int
    changes: tuple[str, ...]
    followups: int
    followups_open: int
    followups_overdue: int


@dataclass(frozen=True)
class RunFact:
    """A finished executor run, as ``storage.runs.Run`` recorded it."""

    action: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class ChangeFact:
    category: str
    status: str
    incident_linked: bool


@dataclass(frozen=True)
class Spread:
    """Median and p90 of some durations (None when there are none)."""

    count: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True)
class SeverityFigures:
    severity: str
    incidents: int
    tta: Spread
    ttr: Spread
    acknowledged_in_time: int
    acknowledgement_judged: int
    """Incidents whose acknowledgement target has passed or that were acknowledged."""


@dataclass(frozen=True)
class ChangeFigures:
    category: str
    total: int
    rolled_back: int
    linked: int


@dataclass(frozen=True)
class BackupFigures:
    taken: int
    """``backup.run`` runs that finished in the period."""
    verified: int
    """Of those, the ones that succeeded: a backup is verified (checksums, archives, dump) before it is published."""
    failed: int
    verify_runs: int
    verify_failed: int
    last_restore_test_at: datetime | None
    last_restore_test_ok: bool | None
    restore_time: timedelta | None
    rto: timedelta
    worst_gap: timedelta | None
    worst_gap_from: datetime | None
    worst_gap_to: datetime | None
    rpo: timedelta

    @property
    def restore_within_rto(self) -> bool | None:
        return None if self.restore_time is None else self.restore_time <= self.rto

    @property
    def gap_within_rpo(self) -> bool | None:
        return None if self.worst_gap is None else self.worst_gap <= self.rpo


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    incidents: tuple[IncidentFigures, ...]
    severities: tuple[SeverityFigures, ...]
    updates_on_time: int
    updates_late: int
    updates_missed: int
    escalation_levels: Mapping[int, int]
    """Incidents by the highest escalation level they reached (0: none)."""
    followups_open: int
    followups_overdue: int
    followups_created: int
    followups_done: int
    changes: tuple[ChangeFigures, ...]
    backups: BackupFigures
    weeks: tuple[Week, ...] = field(default=())

    @property
    def days(self) -> int:
        return round((self.until - self.since) / timedelta(days=1))

    @property
    def updates_share(self) -> float | None:
        owed = self.updates_on_time + self.updates_late + self.updates_missed
        return self.updates_on_time / owed if owed else None


@dataclass(frozen=True)
class Week:
    """One week of the chart: incidents declared in it by final severity, and their times to resolve."""

    start: datetime
    counts: Mapping[str, int]
    ttr: tuple[timedelta, ...]


def quantile(values: Sequence[timedelta], q: float) -> timedelta | None:
    """Linear interpolation between the closest ranks (the median of 10 and 20 minutes is 15)."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: Sequence[timedelta]) -> Spread:
    return Spread(len(values), quantile(values, 0.5), quantile(values, 0.9))


def worst(severities: Iterable[str]) -> str:
    return min(severities, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))


def incident_figures(history: IncidentHistory, targets: Targets, until: datetime, today: date) -> IncidentFigures:
    """One incident's figures as they stood at ``until`` (``today``: that instant's date in the pack's zone)."""
    events = [e for e in history.events if e.at <= until]
    declared = next((e for e in events if e.kind == "declared"), None)
    severity = declared.severity if declared and declared.severity else "P3"
    seen = [severity]
    acknowledged_at: datetime | None = None
    ack_severity = severity
    resolved_at: datetime | None = None
    level = 0
    on_time = late = 0
    anchor = history.declared_at
    every = targets.update_every.get(severity)
    for event in events:
        if event.kind == "severity" and event.severity:
            severity = event.severity
            seen.append(severity)
            anchor, every = event.at, targets.update_every.get(severity)
        elif event.kind == "acknowledged" and acknowledged_at is None:
            acknowledged_at, ack_severity = event.at, severity
        elif event.kind == "update":
            if every is not None:
                if event.at <= anchor + every:
                    on_time += 1
                else:
                    late += 1
            anchor = event.at
        elif event.kind == "escalation" and event.level:
            level = max(level, event.level)
        elif event.kind == "resolved":
            resolved_at = event.at
        elif event.kind == "reopened":
            resolved_at = None
            anchor = event.at
    end = resolved_at or until
    missed = 1 if every is not None and end > anchor + every else 0
    if acknowledged_at is None:
        ack_severity = severity
    target = targets.response_time.get(ack_severity)
    in_time: bool | None
    if target is None:
        in_time = None
    elif acknowledged_at is not None:
        in_time = acknowledged_at - history.declared_at <= target
    else:
        in_time = False if until - history.declared_at > target else None
    followups = [f for f in history.followups if f.created_at <= until]
    still_open = [f for f in followups if f.done_at is None or f.done_at > until]
    return IncidentFigures(
        id=history.id, ref=history.ref, title=history.title, declared_at=history.declared_at,
        acknowledged_at=acknowledged_at, resolved_at=resolved_at, severity=severity, highest=worst(seen),
        tta=acknowledged_at - history.declared_at if acknowledged_at else None,
        ttr=resolved_at - history.declared_at if resolved_at else None,
        acknowledged_in_time=in_time, updates_on_time=on_time, updates_late=late, updates_missed=missed,
        escalation_level=level, changes=history.changes, followups=len(followups),
        followups_open=len(still_open), followups_overdue=sum(1 for f in still_open if f.due_on < today),
    )


def backup_figures(runs: Sequence[RunFact], since: datetime, until: datetime, targets: Targets) -> BackupFigures:
    """Backups taken and verified in the period, the last restore test up to ``until``, and the worst
    gap between verified backups: from the last one before the period (or its start), through each
    one in it, to ``until``."""
    finished = sorted((r for r in runs if r.finished_at is not None and r.finished_at <= until),
                      key=lambda r: r.finished_at or until)
    in_period = [r for r in finished if r.finished_at and r.finished_at >= since]
    backups = [r for r in in_period if r.action == "backup.run"]
    verifies = [r for r in in_period if r.action == "backup.verify"]
    good = [r.finished_at for r in finished if r.action == "backup.run" and r.status == "succeeded" and r.finished_at]
    before = [t for t in good if t < since]
    points = [before[-1] if before else since, *[t for t in good if t >= since], until]
    gap, gap_from, gap_to = None, None, None
    for start, end in zip(points, points[1:], strict=False):
        if gap is None or end - start > gap:
            gap, gap_from, gap_to = end - start, start, end
    tests = [r for r in finished if r.action == "backup.restore_test" and r.status in ("succeeded", "failed")]
    test = tests[-1] if tests else None
    took = (test.finished_at - test.started_at if test and test.status == "succeeded" and test.started_at
            and test.finished_at else None)
    return BackupFigures(
        taken=len(backups), verified=sum(1 for r in backups if r.status == "succeeded"),
        failed=sum(1 for r in backups if r.status == "failed"), verify_runs=len(verifies),
        verify_failed=sum(1 for r in verifies if r.status == "failed"),
        last_restore_test_at=test.finished_at if test else None,
        last_restore_test_ok=test.status == "succeeded" if test else None, restore_time=took, rto=targets.rto,
        worst_gap=gap, worst_gap_from=gap_from, worst_gap_to=gap_to, rpo=targets.rpo)


def change_figures(changes: Sequence[ChangeFact]) -> tuple[ChangeFigures, ...]:
    categories = sorted({c.category for c in changes})
    return tuple(ChangeFigures(
        category, sum(1 for c in changes if c.category == category),
        sum(1 for c in changes if c.category == category and c.status == "rolled_back"),
        sum(1 for c in changes if c.category == category and c.incident_linked)) for category in categories)


def weeks(incidents: Sequence[IncidentFigures], since: datetime, until: datetime) -> tuple[Week, ...]:
    """Seven-day buckets from ``since`` (the chart's bars)."""
    out = []
    start = since
    while start < until:
        end = min(start + timedelta(days=7), until)
        inside = [i for i in incidents if start <= i.declared_at < end]
        out.append(Week(start, dict(Counter(i.severity for i in inside)),
                        tuple(i.ttr for i in inside if i.ttr is not None)))
        start = end
    return tuple(out)


def report(histories: Sequence[IncidentHistory], open_followups: Sequence[FollowUpFact], runs: Sequence[RunFact],
           changes: Sequence[ChangeFact], targets: Targets, since: datetime, until: datetime, today: date) -> Report:
    """The period's report. ``histories``: the incidents declared in [since, until); ``open_followups``:
    every follow-up not done by ``since`` (of any incident), for what is open and overdue now."""
    incidents = tuple(incident_figures(h, targets, until, today) for h in histories
                      if since <= h.declared_at < until)
    severities = []
    for severity in ORDER:
        mine = [i for i in incidents if i.severity == severity]
        judged = [i for i in mine if i.acknowledged_in_time is not None]
        severities.append(SeverityFigures(
            severity, len(mine), spread([i.tta for i in mine if i.tta is not None]),
            spread([i.ttr for i in mine if i.ttr is not None]),
            sum(1 for i in judged if i.acknowledged_in_time), len(judged)))
    followups = [f for f in open_followups if f.created_at <= until]
    still_open = [f for f in followups if f.done_at is None or f.done_at > until]
    return Report(
        since=since, until=until, incidents=incidents, severities=tuple(severities),
        updates_on_time=sum(i.updates_on_time for i in incidents), updates_late=sum(i.updates_late for i in incidents),
        updates_missed=sum(i.updates_missed for i in incidents),
        escalation_levels=dict(sorted(Counter(i.escalation_level for i in incidents).items())),
        followups_open=len(still_open), followups_overdue=sum(1 for f in still_open if f.due_on < today),
        followups_created=sum(1 for f in followups if since <= f.created_at),
        followups_done=sum(1 for f in followups if f.done_at is not None and since <= f.done_at <= until),
        changes=change_figures(changes), backups=backup_figures(runs, since, until, targets),
        weeks=weeks(incidents, since, until),
    )
