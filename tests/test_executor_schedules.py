"""Scheduled actions: each firing runs once, across restarts and a second replica, and reports to
the operations channel."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.runtime import build_runtime
from bot.settings import load_settings
from storage.runs import ScheduleFiring
from tests.support.bot import bot_env, running_bot
from tests.support.clock import FakeClock
from tests.support.runs import demo_pack, runs, wait_status

pytestmark = pytest.mark.kind("e2e")

EVERY_MINUTE = """
echo-every-minute:
  action: demo.echo
  cron: "* * * * *"
  parameters: {word: tick}
"""


def test_each_firing_runs_once_across_restart_and_replicas(tmp_path: Path, database_url: str) -> None:
    clock = FakeClock()
    pack = demo_pack(tmp_path / "pack", schedules=EVERY_MINUTE)
    with running_bot(tmp_path, database_url, clock, playbooks=pack) as bot:
        bot.tick()
        bot.tick()
        [first] = runs(bot)
        assert first.requested_by == "schedule:echo-every-minute" and first.source == "schedule"
        wait_status(bot, first.id, "succeeded")
        bot.settle()
        assert any("`demo.echo` succeeded" in t for t in bot.texts("C0PLATFORM"))  # scheduled outcomes are posted
        # a second replica on the same database, ticking at the same moment
        replica = build_runtime(load_settings(bot_env(bot.sandbox, database_url, pack)), clock=clock)
        try:
            replica.executor.tick()
        finally:
            replica.close()
        assert len(runs(bot)) == 1
    with running_bot(tmp_path, database_url, clock, playbooks=pack) as restarted:
        restarted.tick()
        assert len(runs(restarted)) == 1
        clock.advance(timedelta(minutes=1))
        restarted.tick()
        assert len(runs(restarted)) == 2
        wait_status(restarted, runs(restarted)[1].id, "succeeded")
        with Session(restarted.rt.engine) as session:
            fired = [f.fire_at.strftime("%H:%M") for f in session.exec(select(ScheduleFiring))]
        assert fired == ["09:30", "09:31"]


def test_a_failed_scheduled_run_notifies_the_operations_channel(tmp_path: Path) -> None:
    pack = demo_pack(tmp_path / "pack", schedules="hang:\n  action: demo.hang\n  cron: '* * * * *'\n")
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/o.db", FakeClock(), playbooks=pack) as bot:
        bot.tick()
        [hung] = runs(bot)
        wait_status(bot, hung.id, "failed")
        bot.settle()
        assert any(t.startswith("<!here> ❌ `demo.hang`") and "timeout" in t for t in bot.texts("C0PLATFORM"))


def test_several_missed_firings_run_once(tmp_path: Path) -> None:
    clock = FakeClock()
    pack = demo_pack(tmp_path / "pack", schedules=EVERY_MINUTE)
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/o.db", clock, playbooks=pack) as bot:
        bot.tick()
        clock.advance(timedelta(minutes=10))  # ten firings missed while "down"
        bot.tick()
        assert len(runs(bot)) == 2


def test_a_run_whose_process_died_is_failed_and_its_lock_released(tmp_path: Path, database_url: str) -> None:
    from storage.runs import Run, RunLock

    clock = FakeClock()
    pack = demo_pack(tmp_path / "pack")
    with running_bot(tmp_path, database_url, clock, playbooks=pack) as bot:
        with Session(bot.rt.engine) as session:  # as a crashed replica left it: running, lock held
            orphan = Run(action="demo.sleep", params="{}", risk="high", approvals_needed=1, requested_by="U0ALICE",
                         requested_in="C0PLATFORM", source="command", status="running", plan="[]", lock="demo",
                         requested_at=clock(), started_at=clock(), heartbeat_at=clock())
            session.add(orphan)
            session.commit()
            session.add(RunLock(name="demo", run_id=orphan.id, acquired_at=clock()))
            session.commit()
            orphan_id = orphan.id
        bot.tick()
        assert runs(bot)[0].status == "running"  # a heartbeat a moment ago: alive
        clock.advance(timedelta(minutes=3))
        bot.tick()
        [reaped] = runs(bot)
        assert reaped.status == "failed" and "Interrupted" in reaped.outcome
        with Session(bot.rt.engine) as session:
            assert session.get(RunLock, "demo") is None
        bot.settle()
        assert any(f"run #{orphan_id} failed" in t for t in bot.texts("C0PLATFORM"))
