"""Which process is which, across a crash of the bot: a PID is reused by the kernel, so a process is
named by its machine (host name and boot id), its PID and its start time (``/proc/<pid>/stat``,
field 22, clock ticks since boot). A recorded process is signalled only while a process with that
PID and that start time exists, so a PID given to a later, unrelated process is never hit.

Every process a run starts leads a process group of its own (``start_new_session``), so its PID is
also the group's id, and stopping the group stops its children too. Linux only: elsewhere nothing
is recorded and a dead bot's runs are only marked interrupted."""

from __future__ import annotations

import os
import signal
import socket
import time
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROC = Path("/proc")
POLL = 0.05


@cache
def machine() -> str:
    """This host since its last boot: a PID recorded under another machine means nothing here."""
    try:
        boot = (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "unknown-boot"
    return f"{socket.gethostname()}/{boot}"


def start_time(pid: int) -> int | None:
    """The start time of the process ``pid`` now (clock ticks since boot), or None if there is none."""
    fields = _fields(pid)
    try:
        return int(fields[19])  # field 22 of the whole line
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Identity:
    """One process on one machine: written on a run it is running (``Run.worker``) as ``key``."""

    machine: str
    pid: int
    start: int

    @property
    def key(self) -> str:
        return f"{self.machine}|{self.pid}|{self.start}"

    @classmethod
    def parse(cls, key: str) -> Identity | None:
        try:
            where, pid, start = key.rsplit("|", 2)
            return cls(where, int(pid), int(start))
        except ValueError:
            return None

    @property
    def here(self) -> bool:
        return self.machine == machine()

    def alive(self) -> bool:
        """This very process still exists (only answerable on its machine)."""
        return self.here and start_time(self.pid) == self.start


def this_process() -> Identity | None:
    started = start_time(os.getpid())
    return Identity(machine(), os.getpid(), started) if started is not None else None


def identify(pid: int) -> Identity | None:
    started = start_time(pid)
    return Identity(machine(), pid, started) if started is not None else None


def stop_group(process: Identity, grace: float) -> bool:
    """SIGTERM the process group ``process`` leads, SIGKILL it after ``grace`` seconds if it is still
    there. Nothing is sent unless the leader is that very process. Returns whether anything was sent."""
    if not process.alive():
        return False
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    until = time.monotonic() + grace
    while time.monotonic() < until and group_members(process.pid):
        time.sleep(POLL)
    if group_members(process.pid):
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    return True


def group_members(pgid: int) -> list[int]:
    """The living processes of group ``pgid`` (a zombie, whose parent died with the bot and which
    nobody has reaped yet, is dead: it runs nothing)."""
    members = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _fields(int(entry.name))
            if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return sorted(members)


def _fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` from field 3 (the state) on. The command name (field 2) may hold spaces
    and parentheses: fields are counted after its last ')'."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return []
    return stat[stat.rfind(")") + 2:].split()
