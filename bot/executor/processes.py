"""Stopping the processes a run started. Every process a run starts leads a process group of its own
(``start_new_session``), so its PID is also the group's id, and stopping the group stops its
children too. A recorded process (``bot.identity.Identity``) is signalled only while a process with
that PID and start time exists."""

from __future__ import annotations

import os
import signal
import time
from contextlib import suppress

from bot.identity import PROC, Identity, stat_fields

POLL = 0.05


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
            fields = stat_fields(int(entry.name))
            if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return sorted(members)
