"""Naming a process across a crash of the bot: PID and start time from /proc, so that a recorded
process is signalled only while it is that very process, never a later one given the same PID."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import identity
from bot.executor import processes
from bot.identity import Identity

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
    me = identity.this_process()
    assert me is not None and me.pid == os.getpid() and me.alive()
    found = identity.identify(sleeper.pid)
    assert found is not None and found.alive() and found.start >= me.start
    assert Identity.parse(found.key) == found
    assert Identity.parse("not a key") is None
    assert not Identity("elsewhere/boot", found.pid, found.start).alive(), "another machine's PID means nothing here"


def test_a_reused_pid_is_never_signalled_and_the_recorded_group_is_stopped_whole(
        sleeper: subprocess.Popen[bytes]) -> None:
    found = identity.identify(sleeper.pid)
    assert found is not None
    members = _members(sleeper.pid, 2)  # the shell and its child sleep
    later = Identity(found.machine, found.pid, found.start + 1)  # what a reused PID looks like: another start
    assert not processes.stop_group(later, grace=1)
    assert sleeper.poll() is None and processes.group_members(sleeper.pid) == members

    assert processes.stop_group(found, grace=1)
    assert processes.group_members(sleeper.pid) == [], "the leader and its child are gone"
    assert sleeper.wait(timeout=5) == -15
    assert not processes.stop_group(found, grace=1), "an ended process is not signalled again"


def test_only_runs_of_a_dead_bot_process_on_this_machine_are_orphans(tmp_path: Path) -> None:
    from sqlmodel import Session, select

    from bot.executor import lifecycle
    from bot.work import UnitOfWork
    from playbooks.loader import load_playbook
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.runs import FAILED, RUNNING, Run, RunProcess
    from tests.support.clock import FakeClock
    from tests.support.directory import StaticDirectory

    ended = subprocess.Popen(["true"])
    ended.wait()
    me = identity.this_process()
    assert me is not None
    host = identity.this_host()
    workers = {
        "alive": me,  # this very process: its runs are running
        "killed": Identity(me.machine, ended.pid, me.start - 1),  # a bot of this machine that is gone
        "rebooted": Identity(f"{host}/an-earlier-boot", me.pid, me.start),  # the same PID before a reboot
        "elsewhere": Identity("another-host/its-boot", 4242, 1),  # another machine's to find
    }
    engine = make_engine(f"sqlite:///{tmp_path}/opsbot.db")
    upgrade(engine)
    now = FakeClock()()

    def run(action: str, status: str, worker: Identity) -> Run:
        return Run(action=action, params="{}", risk="low", approvals_needed=0, requested_by="U0ALICE",
                   requested_in="C0PLATFORM", source="command", plan="[]", status=status, worker=worker.key,
                   requested_at=now)

    with Session(engine) as session:
        for name, worker in workers.items():
            session.add(run(name, RUNNING, worker))
        reaped = run("reaped", FAILED, workers["killed"])  # marked by reap_stale, its process still recorded
        session.add(reaped)
        session.commit()
        session.add(RunProcess(run_id=reaped.id, machine=me.machine, pid=ended.pid, start=me.start - 1,
                               command="sleep 600", started_at=now))
        session.commit()
    work = UnitOfWork(engine, load_playbook(), FakeClock(), StaticDirectory())

    found = {o.run_id: o for o in work(lifecycle.orphaned)}
    with Session(engine) as session:
        names = {run.id: run.action for run in session.exec(select(Run)).all()}
    assert sorted(names[run_id] for run_id in found) == ["killed", "reaped", "rebooted"]
    [left] = next(o for o in found.values() if names[o.run_id] == "reaped").processes
    assert not processes.stop_group(left.process, grace=1), "its PID belongs to nobody it started"

    for orphan in found.values():
        work(lambda ctx, o=orphan: lifecycle.interrupted(ctx, o, []))
    assert work(lifecycle.orphaned) == []
    with Session(engine) as session:
        outcomes = {run.action: (run.status, run.outcome) for run in session.exec(select(Run)).all()}
        assert session.exec(select(RunProcess)).all() == []
    assert outcomes["alive"] == (RUNNING, "") and outcomes["elsewhere"] == (RUNNING, "")
    assert outcomes["killed"][0] == FAILED and outcomes["killed"][1].startswith(
        "Interrupted: the bot process running it stopped (killed or crashed)")
    assert outcomes["rebooted"][0] == FAILED
    engine.dispose()
