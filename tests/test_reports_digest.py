"""The weekly digest's firing is claimed once (docs/architecture.md, "Timers are data"): two replicas
ticking at the same moment post one digest; a firing missed while the bot was down is posted late
within a day and not at all after; each week is its own firing. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot.reports import digest
from bot.work import UnitOfWork
from playbooks.loader import load_playbook
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import OutboundMessage
from storage.reports import ReportDigest
from tests.support.clock import FakeClock
from tests.support.directory import StaticDirectory

pytestmark = pytest.mark.kind("unit")  # the postgresql parameter is an integration test (tests/conftest.py)

MONDAY_9 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def posted(work: UnitOfWork) -> list[tuple[datetime, str]]:
    with Session(work.engine) as session:
        digests = session.exec(select(ReportDigest).order_by(ReportDigest.id)).all()
        messages = session.exec(select(OutboundMessage).where(OutboundMessage.purpose == "report_digest")).all()
        assert [m.id for m in messages] == [d.message_id for d in digests]
        return [(d.fire_at, m.channel) for d, m in zip(digests, messages, strict=True)]


def test_two_replicas_post_one_digest_per_week(database_url: str) -> None:
    playbook = load_playbook(None)
    clock = FakeClock(MONDAY_9 + timedelta(seconds=10))
    engines = [make_engine(database_url), make_engine(database_url)]
    upgrade(engines[0])
    replicas = [UnitOfWork(engine, playbook, clock, StaticDirectory()) for engine in engines]
    try:
        start = threading.Barrier(2)
        results: list[object] = []

        def tick(work: UnitOfWork) -> None:
            start.wait()
            results.append(work(digest.post_due))

        threads = [threading.Thread(target=tick, args=(work,)) for work in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(r is None for r in results) == [False, True]
        assert replicas[1](digest.post_due) is None  # every later tick finds it claimed
        assert posted(replicas[0]) == [(MONDAY_9, "#platform-ops")]

        clock.advance(timedelta(days=8))  # down over the next Monday and a day past it: that one is skipped
        assert replicas[0](digest.post_due) is None
        clock.advance(timedelta(days=6, hours=2))  # the Monday after, two hours late: posted
        assert replicas[1](digest.post_due) is not None
        assert posted(replicas[0]) == [(MONDAY_9, "#platform-ops"), (MONDAY_9 + timedelta(days=14), "#platform-ops")]
    finally:
        for engine in engines:
            engine.dispose()
