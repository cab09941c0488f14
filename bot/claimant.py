"""Who holds an outbox claim: this process, named (``bot.identity``) so that another process on the
same host can tell when the holder is gone (killed, crashed, or the host rebooted) and take its
claims back at once instead of waiting for them to run out. A holder on another host, or where
``/proc`` is missing, cannot be told: its claim simply runs out."""

from __future__ import annotations

import os

from bot.identity import Identity, machine, this_host
from bot.identity import this_process as identity


def this_process() -> str:
    me = identity()
    return me.key if me else f"{machine()}|{os.getpid()}|0"


def gone(claimant: str | None) -> bool:
    """True only when ``claimant`` certainly no longer runs: same host, and no process with its PID
    and start time since this boot (a claim by this very process is not gone)."""
    holder = Identity.parse(claimant) if claimant else None
    return holder is not None and holder.start > 0 and holder.host == this_host() and not holder.alive()
