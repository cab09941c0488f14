"""The scheduler's watchdog (docs/architecture.md, "The scheduler cannot stall silently").

The tick only kicks its pieces (``bot.background.Background``, one run at a time each, on threads
of their own), so one piece that waits (a Slack call that never answers, a row lock another
connection holds) holds up only itself. Every wait inside a piece is bounded (database lock and
statement timeouts, SQLite's busy timeout, Slack's HTTP timeout), so a run longer than
``OPSBOT_STALL_SECONDS`` means something is wrong that the bounds did not catch: the watchdog logs
the piece and where its thread is waiting (its stack), and ``/healthz`` answers 503 "scheduler
stalled for N s" so that an orchestrator restarts the process. The lag (how long due work has
waited for its piece to start) is ``opsbot_scheduler_lag_seconds`` on ``/metrics``.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from bot.background import Background

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Stall:
    piece: str
    seconds: float
    stack: str

    @property
    def message(self) -> str:
        return f"scheduler stalled for {self.seconds:.0f} s ({self.piece})"


class Watchdog:
    def __init__(self, pieces: Sequence[Background], bound: float, tick_seconds: float) -> None:
        self.pieces = tuple(pieces)
        self.bound = bound
        self._tick_seconds = tick_seconds
        self._lock = threading.Lock()
        self._ticked: float | None = None  # when the scheduler last kicked the pieces (None: not started)
        self._reported: set[tuple[str, float | None]] = set()  # (piece, run start): each stall logged once

    def ticked(self) -> None:
        """The scheduler's job ran: it kicks the pieces and never waits, so it ticking late means the
        scheduler itself is stuck."""
        with self._lock:
            self._ticked = time.monotonic()

    def stalled(self) -> Stall | None:
        """The longest stall past the bound, if any; each is logged once, with its thread's stack."""
        worst: Stall | None = None
        now = time.monotonic()
        for piece in self.pieces:
            started, thread = piece.current_run()
            if started is None or now - started <= self.bound:
                continue
            frame = sys._current_frames().get(thread) if thread is not None else None
            stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
            stall = Stall(piece.name, now - started, stack)
            self._report(stall, started)
            if worst is None or stall.seconds > worst.seconds:
                worst = stall
        with self._lock:
            ticked = self._ticked
        late = now - ticked - self._tick_seconds if ticked is not None else 0.0
        if late > self.bound and (worst is None or late > worst.seconds):
            worst = Stall("tick", late, "")
            self._report(worst, ticked)
        return worst

    def lag(self) -> float:
        """Seconds the longest-waiting piece's due work has waited for a run to start."""
        waits = [piece.waited() for piece in self.pieces]
        with self._lock:
            ticked = self._ticked
        if ticked is not None:
            waits.append(max(0.0, time.monotonic() - ticked - self._tick_seconds))
        return max(waits, default=0.0)

    def _report(self, stall: Stall, started: float | None) -> None:
        key = (stall.piece, started)
        with self._lock:
            if key in self._reported:
                return
            self._reported.add(key)
        log.error("scheduler_stalled", piece=stall.piece, seconds=round(stall.seconds, 1), waiting_in=stall.stack)
