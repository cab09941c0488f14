"""The watchdog (bot/watchdog.py) on its own: a piece stuck past the bound is reported once with
where its thread waits, the lag grows while a kick waits for it, and all is well when it lets go."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from structlog.testing import capture_logs

from bot.background import Background
from bot.watchdog import Watchdog
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("unit")


def test_a_stuck_piece_is_reported_once_with_its_stack_and_the_lag_grows() -> None:
    let_go = threading.Event()

    def waits_on_a_lock_held_elsewhere() -> None:
        let_go.wait(timeout=30)

    with ThreadPoolExecutor(max_workers=2) as pool:
        stuck = Background("stuck", waits_on_a_lock_held_elsewhere, pool)
        quick = Background("quick", lambda: None, pool)
        watchdog = Watchdog([stuck, quick], bound=0.2, tick_seconds=60)
        stuck.kick()
        quick.kick()
        assert watchdog.stalled() is None
        with capture_logs() as logs:
            stall = eventually(watchdog.stalled, what="the stall")
            watchdog.stalled()  # asked again (every tick, every probe): logged once
        assert stall.piece == "stuck" and stall.message.startswith("scheduler stalled for ")
        assert [e["piece"] for e in logs if e["event"] == "scheduler_stalled"] == ["stuck"]
        assert "waits_on_a_lock_held_elsewhere" in logs[0]["waiting_in"]
        stuck.kick()  # the next tick's kick waits for the stuck run: the lag is how long
        eventually(lambda: watchdog.lag() > 0.1, what="the lag to grow")
        let_go.set()
        eventually(lambda: watchdog.stalled() is None and watchdog.lag() == 0.0, what="the piece to finish")
