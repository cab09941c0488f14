"""``maintenance.enable`` and ``maintenance.disable`` as plans of titled steps (the seed's
``maintenance_mode.sh``, in an order that works).

Enable: a preflight first (Redis answers: otherwise the run is refused with nothing changed), then
the page and the maintenance configuration (checked, reloaded, then probed: nginx
keeps its old configuration silently when a reload fails), so web traffic stops producing jobs;
the periodic scheduler paused; then the workers finish what is queued (Redis list and what they
hold), the requester being asked whether to keep waiting past the drain timeout; only then are
the consumers cancelled (warm); then the backup.run operation's own steps, and the flag file.
The seed cancels the consumers first and then waits for the queue, which never drains.

Disable reverses it: the normal configuration (checked, reloaded, probed), the flag removed,
consumption restarted, the scheduler resumed, health polled, and how long maintenance lasted."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.executor.plan import Plan, Step, StepContext, StepFailed
from bot.executor.runner_steps import to_step, to_steps
from bot.ops.backup.plans import backup_plan
from bot.ops.maintenance import jobs, nginx
from bot.ops.maintenance.page import (
    NO_ETA,
    Flag,
    allowlist_include,
    eta_text,
    mrkdwn_escape,
    render_page,
    write_text,
)
from bot.ops.operation import OpsEnv, operation
from playbooks.actions import ParamValue
from playbooks.durations import format_duration
from playbooks.maintenance import MaintenanceSettings
from playbooks.models import Playbook
from playbooks.runner_steps import HttpCheckStep

KEEP_WAITING, ABORT = "wait", "abort"


@dataclass
class _Enabling:
    previous: bytes | None = None
    installed: bool = False
    paused: bool = False
    page_up_at: datetime | None = None


@operation("maintenance.enable")
def maintenance_enable(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    return enable_plan(env.playbook, now=env.now, reason=str(params.get("reason") or ""),
                       eta=str(params.get("eta") or ""))


@operation("maintenance.disable")
def maintenance_disable(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    return disable_plan(env.playbook.maintenance)


def enable_plan(playbook: Playbook, *, now: datetime, reason: str, eta: str) -> Plan:
    s = playbook.maintenance
    eta_shown = eta_text(eta, now, playbook.settings.zone)
    reason = reason or "Scheduled maintenance"
    state = _Enabling()
    page = s.page.target

    def write_page(ctx: StepContext) -> None:
        write_text(Path(page), render_page(Path(s.page.template), eta=eta_shown, reason=reason))

    def write_allowlist(ctx: StepContext) -> None:
        assert s.nginx.allowlist_file
        write_text(Path(s.nginx.allowlist_file), allowlist_include(s.allowlist))

    def install(ctx: StepContext) -> None:
        state.previous = nginx.install(ctx, s.nginx, s.nginx.maintenance_config)
        state.installed = True

    def probe(ctx: StepContext) -> None:
        try:
            nginx.wait_for(ctx, s.probe, nginx.in_maintenance, "503 with Retry-After")
            _health_reaches_app(s)
        except StepFailed as exc:
            undone = nginx.restore_and_reload(ctx, s.nginx, state.previous, confirm=s.probe)
            state.installed = False
            raise StepFailed(f"{exc}. So {undone}; nothing else was done.") from None
        state.page_up_at = datetime.now(UTC)
        ctx.produce("maintenance page up since", state.page_up_at.strftime("%H:%M:%S UTC"))

    def paused(step: Step) -> Step:
        def run(ctx: StepContext) -> None:
            state.paused = True  # a half-done pause is resumed too if the run is aborted
            step.action(ctx)

        return Step(f"pause the scheduler: {step.title}", run)

    def undo(ctx: StepContext) -> str:
        if state.paused:
            for step in to_steps(s.resume_scheduler):
                step.action(ctx)
        if not state.installed:
            return "nginx was not changed"
        return nginx.restore_and_reload(ctx, s.nginx, state.previous, confirm=s.probe)

    def drain(ctx: StepContext) -> None:
        timeout = s.queue.drain_timeout
        began = time.monotonic()
        limit = began + timeout.total_seconds()
        with jobs.Workers(s.queue) as workers:
            while True:
                ctx.check()
                depth, missing = workers.depth()
                silent = f"; no answer from {', '.join(missing)}" if missing else ""
                ctx.note(f"Draining: {depth.describe()}{silent}")
                if depth.total == 0 and not missing:
                    ctx.produce("queue drained", f"in {_took(time.monotonic() - began)}")
                    return
                if time.monotonic() >= limit:
                    answer = ctx.ask(
                        f"The job queue has not drained after {format_duration(timeout)}: {depth.describe()}. "
                        f"Keep waiting another {format_duration(timeout)}, or abort (the normal site and the "
                        "scheduler are put back; nothing is cancelled)?",
                        [(KEEP_WAITING, f"Keep waiting {format_duration(timeout)}"), (ABORT, "Abort")])
                    if answer.choice == KEEP_WAITING:
                        limit = time.monotonic() + timeout.total_seconds()
                        continue
                    undone = undo(ctx)
                    raise StepFailed(f"Aborted by <@{answer.by}> with {depth.total} job(s) left; {undone}, "
                                     "and maintenance mode is not on.")
                ctx.cancel.wait(s.queue.poll_every.total_seconds())

    def stop_consuming(ctx: StepContext) -> None:
        with jobs.Workers(s.queue) as workers:
            answered = workers.cancel_consumer()
        ctx.produce("consumers cancelled on", ", ".join(answered) or "no worker answered")

    def flag(ctx: StepContext) -> None:
        write_text(Path(s.flag_file), Flag(state.page_up_at or datetime.now(UTC), reason, eta_shown).text())

    def preflight(ctx: StepContext) -> None:
        jobs.preflight(s.queue)

    queue_at = f"`{s.queue.queue}` at {jobs.shown_url(s.queue.redis_url)}"
    brokers = dict.fromkeys(jobs.shown_url(url) for url in (s.queue.redis_url, s.queue.broker))
    steps = [Step(f"preflight: Redis at {' and '.join(brokers)} answers (else nothing is changed)", preflight),
             Step(f"write the maintenance page {page} from {s.page.template} (ETA {eta_shown}; "
                  f"reason: {mrkdwn_escape(reason)})", write_page)]
    if s.nginx.allowlist_file:
        steps.append(Step(f"write {s.nginx.allowlist_file}: {', '.join(s.allowlist) or 'no address'} "
                          "still reach the application", write_allowlist))
    steps += [
        Step(_install_title(s, s.nginx.maintenance_config), install),
        Step(f"probe {s.probe.url} until it answers 503 with Retry-After (within {format_duration(s.probe.within)}), "
             f"and check that {', '.join(nginx.health_urls(s.probe)) or 'no health path'} still reach the application "
             "(else the previous configuration is put back)", probe),
        *(paused(step) for step in to_steps(s.pause_scheduler)),
        Step(f"drain: wait until the Redis list {queue_at} is empty and no worker holds a task (inspect "
             f"active/reserved/scheduled), every {format_duration(s.queue.poll_every)}; after "
             f"{format_duration(s.queue.drain_timeout)} ask whether to keep waiting", drain),
        Step(f"stop consumption: cancel_consumer {s.queue.queue} on every worker (warm: nothing in flight is killed)",
             stop_consuming),
    ]
    cleanup = None
    if s.backup:
        backup = backup_plan(playbook.backups, now=now, kind=s.backup_kind)
        steps += [Step(f"pre-maintenance backup: {step.title}", step.action) for step in backup.steps]
        cleanup = backup.cleanup
    steps.append(Step(f"create the flag file {s.flag_file}", flag))
    eta_note = f" until {eta_shown}" if eta_shown != NO_ETA else ""
    return Plan(tuple(steps), summary=f"Maintenance mode is on{eta_note}: the site answers 503 with the maintenance "
                "page, the job queue is drained and its consumers are stopped.", cleanup=cleanup, announce=True)


def disable_plan(s: MaintenanceSettings) -> Plan:
    previous: list[bytes | None] = []

    def install(ctx: StepContext) -> None:
        previous.append(nginx.install(ctx, s.nginx, s.nginx.normal_config))

    def probe(ctx: StepContext) -> None:
        try:
            nginx.wait_for(ctx, s.probe, nginx.serving, "something other than 503")
        except StepFailed as exc:
            undone = nginx.restore_and_reload(ctx, s.nginx, previous[0] if previous else None)
            raise StepFailed(f"{exc}; {undone}") from None

    def unflag(ctx: StepContext) -> None:
        path = Path(s.flag_file)
        flag = Flag.read(path)
        path.unlink(missing_ok=True)
        lasted = (f"{_took((datetime.now(UTC) - flag.since).total_seconds())} (since "
                  f"{flag.since.strftime('%Y-%m-%d %H:%M UTC')})" if flag else "unknown: there was no flag file")
        ctx.produce("maintenance lasted", lasted)

    def resume_consuming(ctx: StepContext) -> None:
        with jobs.Workers(s.queue) as workers:
            answered = workers.add_consumer()
        ctx.produce("consuming again", ", ".join(answered) or "no worker answered: start the workers")

    steps = [
        Step(_install_title(s, s.nginx.normal_config), install),
        Step(f"probe {s.probe.url} until it answers something other than 503 "
             f"(within {format_duration(s.probe.within)})", probe),
        Step(f"remove the flag file {s.flag_file}", unflag),
        Step(f"restart consumption: add_consumer {s.queue.queue} on every worker", resume_consuming),
        *(Step(f"resume the scheduler: {step.title}", step.action) for step in to_steps(s.resume_scheduler)),
    ]
    if s.health is not None:
        steps.append(to_step(HttpCheckStep(http_check=s.health)))
    return Plan(tuple(steps), summary="Maintenance mode is off: the site is served normally and jobs run again.",
                announce=True)


def _install_title(s: MaintenanceSettings, source: str) -> str:
    site = s.nginx.site_config
    return (f"install {source} as {site}, check with `{nginx.shown(s.nginx, s.nginx.test)}`, reload with "
            f"`{nginx.shown(s.nginx, s.nginx.reload)}` (the previous {site} is put back if either fails)")


def _health_reaches_app(s: MaintenanceSettings) -> None:
    for url in nginx.health_urls(s.probe):
        seen = nginx.fetch(url)
        if not nginx.serving(seen):
            raise StepFailed(f"the health check {url} does not reach the application ({seen.said()})")


def _took(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else format_duration(timedelta(seconds=seconds))
