"""A real Celery worker (a subprocess, thread pool) consuming the ``celery`` queue of a Redis the
caller started, running ``bot.sandbox.services.jobs``; and a client to enqueue jobs and read which
have finished."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from celery import Celery

from bot.sandbox.services import jobs
from bot.sandbox.services.process import ServiceError, check_running, stop_process, wait_for


class Jobs:
    """Enqueues ``mark`` jobs and reads which have finished (one marker file each)."""

    def __init__(self, broker: str, markers: Path) -> None:
        self.markers = markers
        self.app = Celery("opsbot-jobs-client", broker=broker, set_as_current=False)

    def enqueue(self, name: str, seconds: float = 0.5) -> None:
        self.app.send_task("mark", args=[str(self.markers), name, seconds])

    def finished(self) -> dict[str, float]:
        return {p.name: float(p.read_text()) for p in self.markers.iterdir() if p.read_text().strip()}

    def close(self) -> None:
        self.app.close()


class CeleryWorker:
    """``start()`` waits until the worker answers a ping; ``stop()`` is a warm shutdown (running jobs finish)."""

    def __init__(self, broker: str, folder: Path, *, concurrency: int = 2) -> None:
        self.broker = broker
        self.folder = folder
        self.concurrency = concurrency
        self.jobs: Jobs | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / "worker.log"

    def start(self) -> Jobs:
        markers = self.folder / "markers"
        markers.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, jobs.BROKER_ENV: self.broker}
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", jobs.__name__, "worker", "-P", "threads",
                 "-c", str(self.concurrency), "-n", f"worker-{os.getpid()}@%h", "-Q", "celery", "-l", "info",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.jobs = Jobs(self.broker, markers)

        def ready() -> bool:
            check_running(self._proc, "the Celery worker", self.log)
            assert self.jobs is not None
            return bool(self.jobs.app.control.ping(timeout=0.5))

        try:
            wait_for(ready, timeout=60, interval=0.2, what="the Celery worker to answer a ping")
        except ServiceError:
            self.stop()
            raise
        return self.jobs

    def stop(self) -> None:
        if self.jobs is not None:
            self.jobs.close()
            self.jobs = None
        stop_process(self._proc, timeout=20)  # SIGTERM: warm shutdown
