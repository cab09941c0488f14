"""Which process is which, across a crash: a PID is reused by the kernel, so a process is named by
its machine (host name and boot id), its PID and its start time (``/proc/<pid>/stat``, field 22,
clock ticks since boot). Used for the bot process holding an outbox claim or running a run, and
for the processes a run starts; a PID given to a later, unrelated process never passes for the
one recorded. Linux only: elsewhere there is no identity, and claims and runs simply run out."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROC = Path("/proc")


@cache
def machine() -> str:
    """This host since its last boot: a PID recorded under another machine means nothing here."""
    try:
        boot = (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "unknown-boot"
    return f"{this_host()}/{boot}"


def start_time(pid: int) -> int | None:
    """The start time of the process ``pid`` now (clock ticks since boot), or None if there is none."""
    fields = stat_fields(pid)
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
    def host(self) -> str:
        return self.machine.split("/", 1)[0]

    @property
    def here(self) -> bool:
        return self.machine == machine()

    def alive(self) -> bool:
        """This very process still exists (only answerable on its machine)."""
        return self.here and start_time(self.pid) == self.start


def this_host() -> str:
    return socket.gethostname()


def this_process() -> Identity | None:
    started = start_time(os.getpid())
    return Identity(machine(), os.getpid(), started) if started is not None else None


def identify(pid: int) -> Identity | None:
    started = start_time(pid)
    return Identity(machine(), pid, started) if started is not None else None


def stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` from field 3 (the state) on. The command name (field 2) may hold spaces
    and parentheses: fields are counted after its last ')'."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return []
    return stat[stat.rfind(")") + 2:].split()
