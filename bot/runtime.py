"""The running bot's parts, built once at start-up and handed to handlers and the scheduler."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from sqlalchemy.engine import Engine

from bot.alerts.auth import IntakeSecrets, load_secrets
from bot.alerts.listen import ListenedChannels
from bot.alerts.pump import AlertPump
from bot.alerts.retention import AlertRetention
from bot.background import Background
from bot.changes.reminders import ChangeReminders
from bot.clock import Clock, system_clock
from bot.executor.docker_runner import DockerLookups, DockerRunner, ExecTrack
from bot.executor.executor import Executor
from bot.executor.worker import RunWorker, WorkerDeps
from bot.followups import trackers
from bot.followups.sync import TrackerSync
from bot.followups.timers import FollowUpTimers
from bot.gather import Gathered
from bot.home import flows as home_flows
from bot.home import service as home_service
from bot.home.refresh import HomeRefresh
from bot.incidents import flows as incident_flows
from bot.incidents.provision import Provisioner
from bot.incidents.timers import IncidentTimers
from bot.logging import Redactor
from bot.metrics import Metrics
from bot.oncall.feeds import feed_key
from bot.oncall.timers import OncallTimers
from bot.ops.registry import operation_problems
from bot.paging import senders as page_senders
from bot.paging.delivery import PageDelivery
from bot.paging.links import LinkSigner, signing_key
from bot.paging.senders import Senders
from bot.paging.timers import PageTimers
from bot.postmortems.publish import PostmortemPublisher
from bot.public import cache as public_cache
from bot.public import status as public_status
from bot.reports import digest
from bot.settings import Settings
from bot.slack.directory import SlackDirectory
from bot.slack.gateway import SlackGateway, make_client
from bot.slack.outbox import OutboxDelivery
from bot.timeline import flows as timeline_flows
from bot.timeline.history import HistoryReads
from bot.watchdog import Watchdog
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
    alert_retention: Background
    """Deletes resolved alerts past the pack's retention (``bot.alerts.retention``), every few minutes."""
    history: HistoryReads
    """Links captured messages, and reads history for marked messages never seen (one read a minute)."""
    history_reads: Background
    """``history.run_due`` in the background: a rate-limited Slack answer never holds up the tick."""
    followups: FollowUpTimers
    trackers: Background
    """Follow-ups and their tracker issues kept in step (``bot.followups.sync``), in the background."""
    postmortems: Background
    """The post-mortem drafts' canvases and files (``bot.postmortems.publish``), in the background."""
    report_charts: Background
    """The weekly digests' charts (``bot.reports.digest``), uploaded in the background."""
    page_senders: Senders
    """E-mail, ntfy and SMS as ``paging.yaml`` and the environment configure them (docs/paging.md)."""
    page_links: LinkSigner
    page_timers: PageTimers
    paging: Background
    """Pages through people's contact methods (``bot.paging.delivery``), in the background."""
    alert_secrets: IntakeSecrets
    metrics: Metrics
    """``GET /metrics``: the counters this process keeps, and figures read from the database at each scrape."""
    listened: ListenedChannels
    home: HomeRefresh
    """Publishes Home tabs: on opening, and again after commits that change what they show."""
    oncall: OncallTimers
    """Each on-call schedule's handoffs (user group, briefing DMs) and user-group checks."""
    feed_key: bytes
    """Signs the on-call calendar links (``bot.oncall.feeds``)."""
    status_page: public_cache.StatusPageCache
    """The public status page, built on a thread of its own when what it shows changes."""
    tick_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=16, thread_name_prefix="opsbot-tick"))
    """The tick's pieces, a thread each at most: one that waits never holds up another."""
    pieces: tuple[Background, ...] = field(init=False)
    """The scheduler's work, one ``Background`` per piece of ``tick_work``."""
    watchdog: Watchdog = field(init=False)

    def __post_init__(self) -> None:
        self.pieces = tuple(Background(name, work, self.tick_pool) for name, work in self.tick_work())
        self.watchdog = Watchdog((*self.pieces, *self.background_work()),
                                 self.settings.stall_seconds, self.settings.tick_seconds)
        self.metrics.gauge("opsbot_scheduler_lag_seconds",
                           "Seconds the longest-waiting scheduled work has waited for a run to start.",
                           self.watchdog.lag)

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

    def tick_work(self) -> list[tuple[str, Callable[[], object]]]:
        """The scheduler's independent pieces: owed channels, due timers, runs and schedules, alerts,
        queued Slack calls. Each claims its own rows, so they may run in any order or together."""
        return [
            ("provisioning", self._provision_due),
            ("incident_timers", self.timers.run_due),
            ("change_reminders", self.reminders.run_due),
            ("window_timers", self.windows.run_due),
            ("executor", self.executor.tick),
            ("alerts", self.alerts.run),
            ("followup_timers", self.followups.run_due),
            ("page_timers", self.page_timers.run_due),
            ("oncall_timers", self.oncall.run_due),
            ("report_digest", functools.partial(self.work, digest.post_due)),
            ("forget_old_events", functools.partial(timeline_flows.forget_old_events, self.work)),
            ("delivery", self.delivery.deliver_due),
            ("prune_sent", self.delivery.prune_if_due),
        ]

    def kick_tick(self) -> None:
        """The scheduler's job: start each piece on its own thread (one run at a time per piece; a
        piece still running takes the kick as one more run), and never wait for any of them, so a
        piece that waits (a Slack call that never answers, a locked row) holds up only itself."""
        self.watchdog.ticked()
        for piece in (*self.pieces, *self.background_work()):
            piece.kick()
        self.watchdog.stalled()

    def background_work(self) -> tuple[Background, ...]:
        """Work that waits on other servers, kicked by every tick besides the requests that queue it."""
        return (self.history_reads, self.trackers, self.postmortems, self.paging, self.report_charts,
                self.alert_retention)

    def tick(self) -> None:
        """One whole pass in this thread, piece after piece: for tests and tools that want it done
        when this returns (the scheduler kicks the pieces instead, ``kick_tick``)."""
        for _name, work in self.tick_work():
            self.safely(work)
        for background in self.background_work():
            background.kick()

    def _provision_due(self) -> None:
        for incident_id in self.provisioner.claim_due():
            self.safely(self.provisioner.provision, incident_id)
        self.history_reads.kick()
        self.trackers.kick()
        self.postmortems.kick()

    @staticmethod
    def safely(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # a failed pass is retried on the next tick; never kill the scheduler
            log.exception("background_work_failed", work=getattr(fn, "__qualname__", str(fn)))

    def stopping(self) -> None:
        """The start of a shutdown (SIGTERM), while requests in flight still finish: no Slack call
        is started any more (queued ones stay queued for the next start), and every run's processes
        are being stopped. Returns at once; ``close`` waits."""
        self.delivery.stop()
        self.home.stop()
        self.executor.worker.stop_all()

    def close(self) -> None:
        """Stop everything, within Docker's 10 s: runs stop their process groups (SIGTERM, SIGKILL
        after 5 s) and are recorded as interrupted; work waiting in the pools that has not started is
        dropped (its rows wait in the database); work that has started finishes."""
        self.stopping()
        self.tick_pool.shutdown(wait=True, cancel_futures=True)
        self.run_pool.shutdown(wait=True, cancel_futures=True)
        self.intake_pool.shutdown(wait=True, cancel_futures=False)
        self.quick_pool.shutdown(wait=True, cancel_futures=False)
        self.slow_pool.shutdown(wait=True, cancel_futures=True)
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
    gateway = SlackGateway(make_client(settings.bot_token, settings.api_url, timeout=settings.slack_timeout))
    delivery = OutboxDelivery(engine, gateway, clock)
    slow_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="opsbot-slack")
    run_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="opsbot-run")

    def kick_delivery() -> None:
        """Deliver queued Slack calls now, in the background (the scheduler tick retries the rest)."""
        if not delivery.stopped:  # shutting down: they stay queued for the next start
            with suppress(RuntimeError):  # the pool has just shut down: the same
                slow_pool.submit(Runtime.safely, delivery.deliver_due)

    redact = Redactor(settings.secrets)

    def docker(cancel: threading.Event, deadline: float | None, track: ExecTrack | None) -> DockerRunner:
        """Connects on first use only: a bot without Docker runs everything else."""
        return DockerRunner(settings.docker_host, redact=redact, cancel=cancel, deadline=deadline, track=track)

    directory = SlackDirectory(gateway)
    work = UnitOfWork(engine, playbook, clock, directory, deliver=kick_delivery, redact=redact,
                      lookups=DockerLookups(settings.docker_host, redact=redact))
    provisioner = Provisioner(work, gateway)
    quick_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="opsbot-db")
    history = HistoryReads(work, gateway)
    home = HomeRefresh(lambda user, notice: home_flows.publish(work, gateway, user, notice))
    work.observers.append(lambda changed: home.changed(home_service.affected(changed)))
    senders = page_senders.from_pack(playbook.paging)
    links = LinkSigner(signing_key(os.environ.get(playbook.paging.secret_env),
                                   settings.signing_secret or settings.bot_token),
                       playbook.paging.public_url or f"http://127.0.0.1:{settings.port}")
    if senders.by_kind and playbook.paging.public_url is None:
        log.warning("paging_links_local", reason="paging.yaml sets no public_url: acknowledge links in pages "
                    f"point at {links.base_url}, which phones cannot reach")
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
        alerts=AlertPump(work, engine, playbook, clock, provisioner, delivery.deliver_due),
        alert_retention=Background("alert_retention", AlertRetention(engine, playbook, clock).run_due, slow_pool),
        history=history, history_reads=Background("history_reads", history.run_due, slow_pool),
        followups=FollowUpTimers(work),
        trackers=Background("tracker_sync", TrackerSync(work, trackers.from_pack(playbook.record.followups)).run_due,
                            slow_pool),
        postmortems=Background("postmortem_publish", PostmortemPublisher(work, gateway).run_due, slow_pool),
        report_charts=Background("report_charts", digest.DigestCharts(work, gateway).run_due, slow_pool),
        page_senders=senders, page_links=links, page_timers=PageTimers(work),
        paging=Background("paging", PageDelivery(work, senders, links).run_due, slow_pool),
        alert_secrets=load_secrets(playbook.alerts),
        metrics=Metrics(engine, playbook, clock),
        listened=ListenedChannels(gateway, playbook.alerts.listen_channels),
        home=home,
        oncall=OncallTimers(work, directory), feed_key=feed_key(settings.bot_token),
        status_page=status_page,
    )
