"""The scheduler tick (docs/architecture.md, "Timers are data"): APScheduler kicks the tick's pieces
at start-up and then every few seconds; each piece claims its work in the database, so replicas can
all tick, and runs on its own thread, so the job itself never waits ("The scheduler cannot stall
silently")."""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.runtime import Runtime


def start_scheduler(rt: Runtime) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(rt.kick_tick, "interval", seconds=rt.settings.tick_seconds, id="tick", max_instances=1,
                      coalesce=True, next_run_time=datetime.now(UTC), misfire_grace_time=None)
    scheduler.start()
    return scheduler
