"""Who holds an outbox claim (bot/claimant.py): a holder that certainly ended is gone; anything that
cannot be told (another host, no holder named) is not, and its claim runs out instead."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.claimant import gone, this_process

pytestmark = pytest.mark.kind("unit")


def test_only_a_holder_that_certainly_ended_is_gone() -> None:
    ended = subprocess.run([sys.executable, "-c", "from bot.claimant import this_process; print(this_process())"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert gone(ended)
    me = this_process()
    assert not gone(me)
    host, pid, start = me.rsplit(":", 2)
    assert int(pid) == os.getpid() and start
    assert gone(f"{host}:{pid}:{int(start) - 1}")  # the PID now belongs to a later process: the holder ended
    assert not gone(f"another-{host}:{pid}:1")  # another host: nothing can be told here
    assert not gone(None) and not gone("")
