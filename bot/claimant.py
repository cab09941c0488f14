"""Who holds a claim: this process, named so that another process on the same host can tell when
the holder is gone (killed, crashed) and take its claims back at once instead of waiting for them
to run out.

A claimant is ``host:pid:start``, where ``start`` is the process's start time in clock ticks since
boot (``/proc/<pid>/stat``), so a PID reused by a later process never passes for the old holder.
Where ``/proc`` is missing, or the holder ran on another host (another replica, another
container), nothing can be told and the claim simply runs out.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _start_ticks(pid: int) -> str:
    """The process's start time (field 22 of /proc/<pid>/stat), or "" when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def gone(claimant: str | None) -> bool:
    """True only when ``claimant`` certainly no longer runs: same host, and no process with its PID
    and start time (a claim by this very process is not gone)."""
    if not claimant:
        return False
    host, _, rest = claimant.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or not start:
        return False
    return _start_ticks(int(pid)) != start
