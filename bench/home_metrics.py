"""What a scrape of ``GET /metrics`` and one Home tab cost on a large history: 5,000 incidents
(200 of them open, 50 late), 20,000 runs (100 waiting for approval), 2,000 queued Slack calls,
on SQLite. Both run off the event loop (the scrape in the request pool, the Home tab in its own
thread), so what matters is how long they hold a database connection and a core.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from bot.home import flows
from bot.metrics import Metrics
from bot.slack.gateway import UserGroup
from bot.work import UnitOfWork
from playbooks.loader import load_playbook
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Incident, OutboundMessage
from storage.runs import Run

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ROUNDS = 20


class Groups:
    """The directory as the bot's cache has it (no Slack call on a Home tab's read)."""

    def user_group(self, handle: str) -> UserGroup | None:
        return UserGroup("S0" + handle.upper(), handle.lstrip("@"), ("U0ALICE", "U0BOB", "U0KIM"))

    def group_members(self, handle: str) -> frozenset[str]:
        return frozenset(("U0ALICE", "U0BOB", "U0KIM"))


def history(session: Session) -> None:
    for n in range(5000):
        declared = NOW - timedelta(hours=n)
        still_open = n < 200
        session.add(Incident(
            title=f"Incident {n}", severity=("P0", "P1", "P2", "P3")[n % 4], phase="contain", declared_by="U0ALICE",
            declared_at=declared, acknowledged_at=declared + timedelta(minutes=n % 45),
            status="open" if still_open else "resolved",
            resolved_at=None if still_open else declared + timedelta(minutes=30 + n % 300),
            next_update_at=(NOW + timedelta(minutes=-5 if n < 50 else 10)) if still_open else None))
    for n in range(20000):
        waiting = n < 100
        session.add(Run(action=("backup.run", "backup.verify", "backup.restore_test", "maintenance.enable")[n % 4],
                        params="{}", risk="high", approvals_needed=1, requested_by="U0ALICE", requested_in="C0PLATFORM",
                        source="command", plan="[]", status="pending" if waiting else ("succeeded", "failed")[n % 2],
                        requested_at=NOW - timedelta(minutes=n), expires_at=NOW + timedelta(minutes=30),
                        finished_at=None if waiting else NOW - timedelta(minutes=n)))
    for n in range(2000):
        session.add(OutboundMessage(method="chat.postMessage", channel="C0PLATFORM", args="{}",
                                    created_at=NOW - timedelta(seconds=n), next_attempt_at=NOW))
    session.commit()


def timed(fn: object) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return times


def main() -> dict[str, float]:
    playbook = load_playbook(None)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        with Session(engine) as session:
            history(session)
        metrics = Metrics(engine, playbook, lambda: NOW)
        work = UnitOfWork(engine, playbook, lambda: NOW, Groups())
        scrape = timed(metrics.render)
        home = timed(lambda: flows.render(work, "U0BOB"))
        blocks = len(flows.render(work, "U0BOB")["blocks"])
        size = len(metrics.render())
        engine.dispose()
    scrape_ms, home_ms = statistics.median(scrape) * 1000, statistics.median(home) * 1000
    print(f"GET /metrics on 5,000 incidents, 20,000 runs, 2,000 queued calls: median {scrape_ms:.0f} ms "
          f"(max {max(scrape) * 1000:.0f} ms), {size} bytes; one Home tab with 200 open incidents and "
          f"100 runs waiting: median {home_ms:.0f} ms (max {max(home) * 1000:.0f} ms), {blocks} blocks")
    return {"scrape_ms": scrape_ms, "home_ms": home_ms}


if __name__ == "__main__":
    main()
