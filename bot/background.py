"""Work that waits on someone else's server (an issue tracker, Slack's canvases and uploads), run in
the background so neither a request nor the scheduler tick waits for it.

A request that just queued such work kicks it to start now; every tick kicks it too, for what is
due later or failed before. One run at a time per process (the work claims its rows by
compare-and-set, so replicas share it safely); a kick during a run asks for one more run after it.

Each one also says how it is doing, for the watchdog (``bot/watchdog.py``): since when its current run
has been going and on which thread, and since when a kick has waited for a run to start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor

import structlog

log = structlog.get_logger(__name__)


class Background:
    def __init__(self, name: str, run: Callable[[], object], pool: Executor) -> None:
        self.name = name
        self.run = run
        """The work itself, for a caller that wants it done now and waits (tests, the CLI)."""
        self._pool = pool
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self._run_started: float | None = None  # time.monotonic() when the current run began
        self._thread: int | None = None  # the thread running it
        self._kicked: float | None = None  # when the oldest kick not yet taken up by a run came

    def kick(self) -> None:
        with self._lock:
            if self._kicked is None:
                self._kicked = time.monotonic()
            if self._running:
                self._again = True
                return
            self._running = True
        try:
            self._pool.submit(self._loop)
        except RuntimeError:  # the pool is shut down: the process is stopping
            with self._lock:
                self._running = False
                self._kicked = None

    def current_run(self) -> tuple[float | None, int | None]:
        """When (``time.monotonic()``) the current run began, and its thread's id; None when idle."""
        with self._lock:
            return self._run_started, self._thread

    def waited(self) -> float:
        """Seconds the oldest kick not yet taken up by a run has waited (0 when none waits): how late
        this work is behind its schedule."""
        with self._lock:
            kicked = self._kicked
        return time.monotonic() - kicked if kicked is not None else 0.0

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._run_started, self._thread, self._kicked = time.monotonic(), threading.get_ident(), None
            try:
                self.run()
            except Exception:  # tried again at the next kick or tick
                log.exception("background_work_failed", work=self.name)
            with self._lock:
                self._run_started = self._thread = None
                if not self._again:
                    self._running = False
                    return
                self._again = False
