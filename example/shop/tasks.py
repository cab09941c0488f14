"""The shop's Celery tasks (broker: Redis). The worker runs ``celery -A tasks worker``."""

from __future__ import annotations

import os
import time

import psycopg
from celery import Celery

app = Celery("shop", broker=os.environ.get("REDIS_URL", "redis://redis:6379/0"))
app.conf.broker_connection_retry_on_startup = True


@app.task
def confirm(order_id: int, seconds: float = 0.5) -> None:
    """Takes a moment, like real work: maintenance mode waits for it to finish."""
    time.sleep(seconds)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as db:
        db.execute("UPDATE orders SET confirmed = true WHERE id = %s", (order_id,))
