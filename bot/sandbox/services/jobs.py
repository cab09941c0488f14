"""The jobs the sandbox's Celery worker runs (and the tests' workers): each sleeps a little, then
writes a marker file, so one can tell which jobs ran and when they finished.

The broker comes from OPSBOT_CELERY_BROKER, set by whoever starts the worker: there is no default,
so a worker never reaches a Redis it was not given."""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery

BROKER_ENV = "OPSBOT_CELERY_BROKER"

app = Celery("opsbot-sandbox-jobs", broker=os.environ.get(BROKER_ENV) or "memory://")
app.conf.broker_connection_retry_on_startup = True


@app.task(name="mark")
def mark(folder: str, name: str, seconds: float) -> None:
    time.sleep(seconds)
    (Path(folder) / name).write_text(f"{time.time():.6f}\n")
