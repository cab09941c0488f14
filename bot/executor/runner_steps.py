"""Runner steps from a playbook (``playbooks.runner_steps``) as executor Steps. The title is what the
approvers read before anything runs, so it says exactly what will happen, with every value resolved:
``docker restart web (timeout 10s)``, ``run systemctl stop app in /srv/app``."""

from __future__ import annotations

import http.client
import math
import shlex
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import HTTPRedirectHandler, OpenerDirector, ProxyHandler, Request, build_opener

from bot.executor.plan import DockerEngine, Step, StepContext, StepFailed
from playbooks.durations import format_duration
from playbooks.runner_steps import (
    DockerExecStep,
    DockerRecreateStep,
    DockerRestartStep,
    DockerStartStep,
    DockerStopStep,
    DockerTagStep,
    HttpCheck,
    HttpCheckStep,
    RunnerStep,
    RunStep,
)


def to_step(config: RunnerStep) -> Step:
    """The executor Step for one configured runner step."""
    match config:
        case RunStep(run=argv, cwd=cwd, env=env):
            title = f"run {shlex.join(argv)}" + (f" in {cwd}" if cwd else "") + _env_names(env)
            return Step(title, lambda ctx: _run(ctx, argv, cwd, env))
        case DockerExecStep(docker_exec=spec):
            title = f"docker exec {spec.container} {shlex.join(spec.argv)}" + _env_names(spec.env)
            return Step(title, _docker(title, lambda d: d.exec(spec.container, spec.argv, env=dict(spec.env))))
        case DockerRestartStep(docker_restart=target):
            seconds = _seconds(target.timeout)
            title = f"docker restart {target.container} (timeout {format_duration(target.timeout)})"
            return Step(title, _docker(title, lambda d: d.restart(target.container, timeout_seconds=seconds)))
        case DockerStopStep(docker_stop=target):
            seconds = _seconds(target.timeout)
            title = f"docker stop {target.container} (timeout {format_duration(target.timeout)})"
            return Step(title, _docker(title, lambda d: d.stop(target.container, timeout_seconds=seconds)))
        case DockerStartStep(docker_start=target):
            title = f"docker start {target.container}"
            return Step(title, _docker(title, lambda d: d.start(target.container)))
        case DockerRecreateStep(docker_recreate=target):
            seconds = _seconds(target.timeout)
            title = (f"docker recreate {target.container}: a new container with its settings from the image its "
                     f"tag names now (stop timeout {format_duration(target.timeout)})")
            return Step(title, _docker(title, lambda d: d.recreate(target.container, timeout_seconds=seconds)))
        case DockerTagStep(docker_tag=spec):
            title = f"docker tag {spec.image} {spec.as_}"
            return Step(title, _docker(title, lambda d: d.tag(spec.image, spec.as_)))
        case HttpCheckStep(http_check=check):
            title = (f"wait until {check.url} answers {check.expect_status} "
                     f"(within {format_duration(check.within)}, every {format_duration(check.every)})")
            return Step(title, lambda ctx: wait_until_healthy(ctx, check))
    raise TypeError(f"not a runner step: {config!r}")


def to_steps(configs: Iterable[RunnerStep]) -> list[Step]:
    return [to_step(config) for config in configs]


def _run(ctx: StepContext, argv: tuple[str, ...], cwd: str | None, env: dict[str, str]) -> None:
    ctx.runner.process(argv, cwd=Path(cwd) if cwd else None, env=env or None)


def _docker(title: str, call: Callable[[DockerEngine], object]) -> Callable[[StepContext], None]:
    def action(ctx: StepContext) -> None:
        if ctx.docker is None:
            raise StepFailed(f"{title}: needs the Docker engine, and none is configured")
        ctx.check()
        call(ctx.docker)

    return action


def _seconds(value: timedelta) -> int:
    """Docker takes whole seconds; never round a grace period down."""
    return math.ceil(value.total_seconds())


def _env_names(env: dict[str, str]) -> str:
    """Names only: a value may be a secret, and the title is shown in Slack."""
    return f" with {', '.join(sorted(env))} set" if env else ""


# -- health checks -------------------------------------------------------------------------------------


class _NoRedirects(HTTPRedirectHandler):
    """A redirect is the answer: a health check that expects 200 must not pass on a login page."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


def _opener() -> OpenerDirector:
    # No proxies: health URLs are local, and an http_proxy in the environment must not intercept them.
    return build_opener(ProxyHandler({}), _NoRedirects())


def wait_until_healthy(ctx: StepContext, check: HttpCheck, *, clock: Callable[[], float] = time.monotonic) -> None:
    """GET ``check.url`` every ``check.every`` until it answers ``check.expect_status``, at most for
    ``check.within``; Cancel and the run's deadline are honoured between polls."""
    opener = _opener()
    until = clock() + check.within.total_seconds()
    attempts = 0
    while True:
        ctx.check()
        attempts += 1
        remaining = until - clock()
        status, last = _probe(opener, check.url, max(0.1, min(check.timeout.total_seconds(), remaining)))
        if status == check.expect_status:
            ctx.note(f"{check.url} answered {status} after {attempts} attempt(s)")
            return
        remaining = until - clock()
        if remaining <= 0:
            raise StepFailed(f"{check.url} did not answer {check.expect_status} within "
                             f"{format_duration(check.within)} ({attempts} attempts; last: {last})")
        ctx.cancel.wait(min(check.every.total_seconds(), remaining))


def _probe(opener: OpenerDirector, url: str, timeout: float) -> tuple[int | None, str]:
    """(status, what happened in words) for one GET; never raises for network trouble."""
    try:
        with opener.open(Request(url, method="GET"), timeout=timeout) as response:
            return response.status, f"it answered {response.status}"
    except HTTPError as exc:
        exc.close()
        return exc.code, f"it answered {exc.code}"
    except URLError as exc:
        reason = exc.reason
        return None, str(getattr(reason, "strerror", None) or reason).lower()
    except TimeoutError:
        return None, f"no answer within {timeout:g}s"
    except (OSError, http.client.HTTPException) as exc:
        return None, type(exc).__name__
