"""The scheduler tick (docs/architecture.md, "Timers are data"): APScheduler runs one pass at
start-up and then every few seconds; the pass itself claims work in the database, so replicas can
all tick."""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.runtime import Runtime


def start_scheduler(rt: Runtime) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(rt.tick, "interval", seconds=rt.settings.tick_seconds, id="tick", max_instances=1,
                      coalesce=True, next_run_time=datetime.now(UTC), misfire_grace_time=None)
    scheduler.start()
    return scheduler
