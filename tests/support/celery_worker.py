"""A real Celery worker (a subprocess, thread pool) consuming the ``celery`` queue of a test Redis,
running ``tests.support.celery_tasks``; and a client to enqueue jobs and read the markers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery import Celery

from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


class Jobs:
    """Enqueues ``mark`` jobs and reads which have finished (one marker file each)."""

    def __init__(self, broker: str, markers: Path) -> None:
        self.markers = markers
        self.app = Celery("opsbot-test-client", broker=broker, set_as_current=False)

    def enqueue(self, name: str, seconds: float = 0.5) -> None:
        self.app.send_task("mark", args=[str(self.markers), name, seconds])

    def finished(self) -> dict[str, float]:
        return {p.name: float(p.read_text()) for p in self.markers.iterdir() if p.read_text().strip()}

    def close(self) -> None:
        self.app.close()


@contextmanager
def celery_worker(broker: str, folder: Path, *, concurrency: int = 2) -> Iterator[Jobs]:
    """Start the worker, wait until it answers a ping, yield a Jobs client; warm shutdown at the end."""
    markers = folder / "markers"
    markers.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OPSBOT_TEST_BROKER": broker}
    with (folder / "worker.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.support.celery_tasks", "worker", "-P", "threads",
             "-c", str(concurrency), "-n", f"worker-{os.getpid()}@%h", "-Q", "celery", "-l", "info",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    jobs = Jobs(broker, markers)

    def ready() -> bool:
        assert proc.poll() is None, (folder / "worker.log").read_text()[-3000:]
        return bool(jobs.app.control.ping(timeout=0.5))

    try:
        eventually(ready, timeout=60, interval=0.2, what="the Celery worker to answer a ping")
        yield jobs
    finally:
        jobs.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # warm shutdown
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
