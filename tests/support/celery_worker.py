"""A real Celery worker on a test's Redis (the sandbox's own worker service)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.sandbox.services.celery_worker import CeleryWorker, Jobs

__all__ = ["Jobs", "celery_worker"]


@contextmanager
def celery_worker(broker: str, folder: Path, *, concurrency: int = 2) -> Iterator[Jobs]:
    """Start the worker, wait until it answers a ping, yield a Jobs client; warm shutdown at the end."""
    worker = CeleryWorker(broker, folder, concurrency=concurrency)
    try:
        yield worker.start()
    finally:
        worker.stop()
