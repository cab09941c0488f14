"""The jobs a test Celery worker runs: each sleeps a little, then writes a marker file, so a test
can tell which jobs ran, and when they finished. The broker comes from OPSBOT_TEST_BROKER."""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery

app = Celery("opsbot-test-jobs", broker=os.environ.get("OPSBOT_TEST_BROKER", "redis://127.0.0.1:6379/0"))
app.conf.broker_connection_retry_on_startup = True


@app.task(name="mark")
def mark(folder: str, name: str, seconds: float) -> None:
    time.sleep(seconds)
    (Path(folder) / name).write_text(f"{time.time():.6f}\n")
