"""Naming a process across a crash of the bot: PID and start time from /proc, so that a recorded
process is signalled only while it is that very process, never a later one given the same PID."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.executor import processes
from bot.executor.processes import Identity

pytestmark = pytest.mark.kind("unit")


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``sleep`` under a command name with spaces and parentheses (as /proc/<pid>/stat shows it),
    leading a group of its own, with a child in that group."""
    odd = tmp_path / "a) b (c"
    shutil.copy(shutil.which("sh") or "/bin/sh", odd)
    proc = subprocess.Popen([str(odd), "-c", "sleep 60 & wait"], start_new_session=True)
    yield proc
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
    proc.wait()


def _members(pgid: int, count: int) -> list[int]:
    from tests.support.waiting import eventually

    return eventually(lambda: len(found := processes.group_members(pgid)) == count and found, timeout=5,
                      what=f"{count} process(es) in group {pgid}")


def test_identity_is_pid_and_start_time_and_survives_odd_command_names(sleeper: subprocess.Popen[bytes]) -> None:
    me = processes.this_process()
    assert me is not None and me.pid == os.getpid() and me.alive()
    found = processes.identify(sleeper.pid)
    assert found is not None and found.alive() and found.start >= me.start
    assert Identity.parse(found.key) == found
    assert Identity.parse("not a key") is None
    assert not Identity("elsewhere/boot", found.pid, found.start).alive(), "another machine's PID means nothing here"


def test_a_reused_pid_is_never_signalled_and_the_recorded_group_is_stopped_whole(
        sleeper: subprocess.Popen[bytes]) -> None:
    found = processes.identify(sleeper.pid)
    assert found is not None
    members = _members(sleeper.pid, 2)  # the shell and its child sleep
    later = Identity(found.machine, found.pid, found.start + 1)  # what a reused PID looks like: another start
    assert not processes.stop_group(later, grace=1)
    assert sleeper.poll() is None and processes.group_members(sleeper.pid) == members

    assert processes.stop_group(found, grace=1)
    assert processes.group_members(sleeper.pid) == [], "the leader and its child are gone"
    assert sleeper.wait(timeout=5) == -15
    assert not processes.stop_group(found, grace=1), "an ended process is not signalled again"
