"""The running bot's parts, built once at start-up and handed to handlers and the scheduler."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from sqlalchemy.engine import Engine

from bot.alerts.auth import IntakeSecrets, load_secrets
from bot.alerts.listen import ListenedChannels
from bot.alerts.pump import AlertPump
from bot.background import Background
from bot.changes.reminders import ChangeReminders
from bot.clock import Clock, system_clock
from bot.executor.docker_runner import DockerLookups, DockerRunner
from bot.executor.executor import Executor
from bot.executor.worker import RunWorker, WorkerDeps
from bot.followups import trackers
from bot.followups.sync import TrackerSync
from bot.followups.timers import FollowUpTimers
from bot.gather import Gathered
from bot.incidents import flows as incident_flows
from bot.incidents.provision import Provisioner
from bot.incidents.timers import IncidentTimers
from bot.logging import Redactor
from bot.metrics import Counters
from bot.ops.registry import operation_problems
from bot.postmortems.publish import PostmortemPublisher
from bot.public import cache as public_cache
from bot.public import status as public_status
from bot.settings import Settings
from bot.slack.directory import SlackDirectory
from bot.slack.gateway import SlackGateway, make_client
from bot.slack.outbox import OutboxDelivery
from bot.timeline import flows as timeline_flows
from bot.timeline.history import HistoryReads
from bot.windows.timers import WindowTimers
from bot.work import UnitOfWork
from playbooks.loader import PlaybookError, load_playbook
from playbooks.models import Playbook
from storage.db import make_engine
from storage.migrate import upgrade

T = TypeVar("T")
log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    playbook: Playbook
    engine: Engine
    gateway: SlackGateway
    clock: Clock
    work: UnitOfWork
    """Runs every domain flow: one session, one commit, then delivery of what it queued."""
    delivery: OutboxDelivery
    provisioner: Provisioner
    timers: IncidentTimers
    reminders: ChangeReminders
    windows: WindowTimers
    executor: Executor
    quick_pool: ThreadPoolExecutor
    slow_pool: ThreadPoolExecutor
    run_pool: ThreadPoolExecutor
    intake_pool: ThreadPoolExecutor
    """Stores alert webhooks: its own threads, so an alert storm never queues ahead of Slack's acks."""
    notes: Gathered[tuple[str, str, str], str]
    """``/incident note`` (channel, text, author): notes arriving together are written together, one
    batch at a time on SQLite (one connection, one writer: a second batch would only wait for it)."""
    alerts: AlertPump
    history: HistoryReads
    """Links captured messages, and reads history for marked messages never seen (one read a minute)."""
    history_reads: Background
    """``history.run_due`` in the background: a rate-limited Slack answer never holds up the tick."""
    followups: FollowUpTimers
    trackers: Background
    """Follow-ups and their tracker issues kept in step (``bot.followups.sync``), in the background."""
    postmortems: Background
    """The post-mortem drafts' canvases and files (``bot.postmortems.publish``), in the background."""
    alert_secrets: IntakeSecrets
    alert_webhooks: Counters
    listened: ListenedChannels
    status_page: public_cache.StatusPageCache
    """The public status page, built on a thread of its own when what it shows changes."""

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Short database work on the request path, off the event loop.

        A few threads only: more would fight the event loop for the GIL and delay acks.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.quick_pool, functools.partial(fn, *args, **kwargs))

    async def run_slow(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Work that waits on Slack (provisioning, delivery): never on the request path."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.slow_pool, functools.partial(fn, *args, **kwargs))

    def kick_alerts(self) -> None:
        """Alert work (channels, summary edits, delivery) after a stored alert, off the request path."""
        self.alerts.kick(self.slow_pool)

    def tick(self) -> None:
        """One scheduler pass: owed channels, due timers, runs and schedules, queued Slack calls."""
        for incident_id in self.provisioner.claim_due():
            self.safely(self.provisioner.provision, incident_id)
        self.safely(self.timers.run_due)
        self.safely(self.reminders.run_due)
        self.safely(self.windows.run_due)
        self.safely(self.executor.tick)
        self.safely(self.alerts.run)
        self.safely(self.followups.run_due)
        self.history_reads.kick()
        self.safely(timeline_flows.forget_old_events, self.work)
        self.trackers.kick()
        self.postmortems.kick()
        self.safely(self.delivery.deliver_due)
        self.safely(self.delivery.prune_if_due)

    @staticmethod
    def safely(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # a failed pass is retried on the next tick; never kill the scheduler
            log.exception("background_work_failed", work=getattr(fn, "__qualname__", str(fn)))

    def close(self) -> None:
        self.executor.worker.stop_all()  # child processes stop; each run is recorded as stopped
        self.run_pool.shutdown(wait=True, cancel_futures=True)
        self.intake_pool.shutdown(wait=True, cancel_futures=False)
        self.quick_pool.shutdown(wait=True, cancel_futures=False)
        self.slow_pool.shutdown(wait=True, cancel_futures=False)
        self.status_page.close()
        self.gateway.close()
        self.engine.dispose()


def build_runtime(settings: Settings, *, clock: Clock = system_clock, playbook: Playbook | None = None,
                  migrate: bool = True) -> Runtime:
    playbook = playbook or load_playbook(settings.playbooks_dir)
    problems = operation_problems(playbook)
    if problems:
        raise PlaybookError(problems)
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    assert settings.bot_token, "a bot token is required to build the runtime"
    gateway = SlackGateway(make_client(settings.bot_token, settings.api_url))
    delivery = OutboxDelivery(engine, gateway, clock)
    slow_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="opsbot-slack")
    run_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="opsbot-run")

    def kick_delivery() -> None:
        """Deliver queued Slack calls now, in the background (the scheduler tick retries the rest)."""
        slow_pool.submit(Runtime.safely, delivery.deliver_due)

    redact = Redactor(settings.secrets)

    def docker(cancel: threading.Event, deadline: float | None) -> DockerRunner:
        """Connects on first use only: a bot without Docker runs everything else."""
        return DockerRunner(settings.docker_host, redact=redact, cancel=cancel, deadline=deadline)

    work = UnitOfWork(engine, playbook, clock, SlackDirectory(gateway), deliver=kick_delivery, redact=redact,
                      lookups=DockerLookups(settings.docker_host, redact=redact))
    provisioner = Provisioner(work, gateway)
    quick_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="opsbot-db")
    history = HistoryReads(work, gateway)
    status_page = public_cache.StatusPageCache(
        lambda: work(lambda ctx: public_status.snapshot(ctx.session, ctx.playbook, ctx.now)), clock)
    public_cache.watch(engine, status_page.changed)
    return Runtime(
        settings=settings, playbook=playbook, engine=engine, gateway=gateway, clock=clock, work=work,
        delivery=delivery, provisioner=provisioner, timers=IncidentTimers(work), reminders=ChangeReminders(work),
        windows=WindowTimers(work), executor=Executor(work, gateway, RunWorker(WorkerDeps(work, docker), run_pool)),
        quick_pool=quick_pool, notes=Gathered(quick_pool, lambda notes: incident_flows.notes(work, notes),
                                              in_flight=1 if engine.dialect.name == "sqlite" else 2),
        slow_pool=slow_pool, run_pool=run_pool,
        intake_pool=ThreadPoolExecutor(max_workers=4, thread_name_prefix="opsbot-alerts"),
        alerts=AlertPump(engine, playbook, clock, provisioner, delivery.deliver_due),
        history=history, history_reads=Background("history_reads", history.run_due, slow_pool),
        followups=FollowUpTimers(work),
        trackers=Background("tracker_sync", TrackerSync(work, trackers.from_pack(playbook.record.followups)).run_due,
                            slow_pool),
        postmortems=Background("postmortem_publish", PostmortemPublisher(work, gateway).run_due, slow_pool),
        alert_secrets=load_secrets(playbook.alerts),
        alert_webhooks=Counters("opsbot_alert_webhooks", "Alert webhooks and alerts by outcome, since start.",
                                "outcome", ("received", "stored", "repeats", "unauthorized", "rejected", "failed")),
        listened=ListenedChannels(gateway, playbook.alerts.listen_channels),
        status_page=status_page,
    )
