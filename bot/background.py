"""Work that waits on someone else's server (an issue tracker, Slack's canvases and uploads), run in
the background so neither a request nor the scheduler tick waits for it.

A request that just queued such work kicks it to start now; every tick kicks it too, for what is
due later or failed before. One run at a time per process (the work claims its rows by
compare-and-set, so replicas share it safely); a kick during a run asks for one more run after it.
"""

from __future__ import annotations

import threading
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

    def kick(self) -> None:
        with self._lock:
            if self._running:
                self._again = True
                return
            self._running = True
        try:
            self._pool.submit(self._loop)
        except RuntimeError:  # the pool is shut down: the process is stopping
            with self._lock:
                self._running = False

    def _loop(self) -> None:
        while True:
            try:
                self.run()
            except Exception:  # tried again at the next kick or tick
                log.exception("background_work_failed", work=self.name)
            with self._lock:
                if not self._again:
                    self._running = False
                    return
                self._again = False
