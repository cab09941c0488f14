"""How long the reports take on a busy year of history: ``/incident report 90d`` answers inside the ack
when its work finishes within ``handlers.replies.ACK_BUDGET_SECONDS`` (2 s), otherwise "Working on
it…" first. Measures the answer's work (queries, figures, Block Kit), the export of every incident,
and the chart's PNG, on SQLite with a year of rows: 1,500 incidents (16 timeline entries each, a
follow-up each), 1,500 change requests and the backup schedule's runs (every 6 hours, a daily
verification, a weekly restore test).

    PYTHONPATH=. .venv/bin/python bench/reports.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import Session

from bot.reports import chart, flows, queries
from bot.work import UnitOfWork
from playbooks.loader import load_playbook
from storage.changes import ChangeRequest
from storage.db import make_engine
from storage.followups import FollowUp
from storage.migrate import upgrade
from storage.models import Incident, TimelineEntry
from storage.runs import Run
from tests.support.clock import FakeClock
from tests.support.directory import StaticDirectory

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
INCIDENTS = 1500
ROUNDS = 5


def populate(engine) -> None:  # type: ignore[no-untyped-def]
    start = NOW - timedelta(days=365)
    step = timedelta(days=365) / INCIDENTS
    severities = ("P0", "P1", "P1", "P2", "P2", "P3")
    incidents, entries, followups, changes, runs = [], [], [], [], []
    for n in range(INCIDENTS):
        declared = start + n * step
        severity = severities[n % len(severities)]
        incidents.append({"id": n + 1, "title": f"Incident {n}", "severity": severity, "status": "resolved",
                          "phase": "postmortem", "declared_by": "U0ALICE", "declared_at": declared,
                          "resolved_at": declared + timedelta(hours=2), "provision_attempts": 0,
                          "missed_updates": 0, "escalation_level": 2, "description": ""})
        script = [(0, "declared", f"Declared {severity} - x: Incident {n}"), (0, "escalation", "Escalated to level 2"),
                  (7, "acknowledged", "Acknowledged"), (20, "severity", f"Severity {severity} → P1")]
        script += [(25 + 28 * k, "update", "Update: Investigating") for k in range(4)]
        script += [(30 + 10 * k, "note", "note") for k in range(7)]
        script += [(120, "resolved", "Resolved: fixed")]
        entries += [{"incident_id": n + 1, "at": declared + timedelta(minutes=m), "author": "U0ALICE", "kind": kind,
                     "text": text} for m, kind, text in script]
        followups.append({"incident_id": n + 1, "owner": "U0BOB", "text": "Do it", "due_on": (declared + timedelta(
            days=7)).date(), "status": "open", "created_by": "U0ALICE", "created_at": declared,
            "tracker_done": False, "tracker_attempts": 0})
        changes.append({"number": f"CR-{n:06d}", "year": 2026, "seq": n, "category": ("normal", "standard")[n % 2],
                        "priority": "Low", "description": "d", "systems": "s", "user_impact": "None",
                        "downtime": False, "downtime_duration": "", "risk": "Low", "implementation_plan": "p",
                        "rollback_plan": "r", "testing": "[]", "requested_by": "U0BOB", "requested_at": declared,
                        "status": "done", "approval_owed": False, "reminders_sent": 0,
                        "incident_id": n + 1 if n % 5 == 0 else None})
    at = start
    while at < NOW:
        for action, every in (("backup.run", 6), ("backup.verify", 24), ("backup.restore_test", 24 * 7)):
            if (at - start) // timedelta(hours=1) % every == 0:
                runs.append({"action": action, "params": "{}", "risk": "low", "approvals_needed": 0,
                             "requested_by": "schedule:x", "requested_in": "C0", "source": "schedule",
                             "status": "succeeded", "plan": "[]", "requested_at": at, "started_at": at,
                             "finished_at": at + timedelta(minutes=3), "outcome": "", "output": "", "produced": "{}"})
        at += timedelta(hours=6)
    with Session(engine) as session:
        for model, rows in ((Incident, incidents), (TimelineEntry, entries), (FollowUp, followups),
                            (ChangeRequest, changes), (Run, runs)):
            session.execute(insert(model), rows)  # type: ignore[arg-type]
        session.commit()
    print(f"history: {len(incidents)} incidents, {len(entries)} timeline entries, {len(followups)} follow-ups, "
          f"{len(changes)} change requests, {len(runs)} runs")


def timed(fn) -> str:  # type: ignore[no-untyped-def]
    took = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        fn()
        took.append(time.perf_counter() - began)
    return f"median {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms ({ROUNDS} runs)"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade(engine)
        populate(engine)
        playbook = load_playbook(None)
        work = UnitOfWork(engine, playbook, FakeClock(NOW), StaticDirectory())
        for days in (7, 30, 90):
            print(f"/incident report {days}d: {timed(lambda d=days: flows.answer(work, d))}")
        print(f"export, every incident (a year): {timed(lambda: flows.export_rows(work, None))}")
        with Session(engine) as session:
            report = queries.report(session, playbook, NOW - timedelta(days=90), NOW)
        chart.render(report, playbook.settings.zone)  # the first draw loads fonts
        print(f"chart of 90 days ({len(report.incidents)} incidents): "
              f"{timed(lambda: chart.render(report, playbook.settings.zone))}")
        engine.dispose()


if __name__ == "__main__":
    main()
