"""Runner steps: validated from playbook YAML with errors that name the key, titled exactly, and run
for real: local processes, the docker runner against the Engine API stand-in, and a real local HTTP
server that becomes healthy after a delay."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from bot.executor.docker_runner import DockerRunner
from bot.executor.local import LocalRunner
from bot.executor.plan import Cancelled, StepContext, StepFailed
from bot.executor.runner_steps import to_step, to_steps, wait_until_healthy
from playbooks.common import PackModel
from playbooks.runner_steps import HttpCheck, RunnerSteps
from tests.support.dockerd import Dockerd

pytestmark = pytest.mark.kind("unit")


class Services(PackModel):
    """Stands for the playbook section that will hold runner steps (e.g. backups.restore)."""

    stop_services: RunnerSteps = ()


def _steps(text: str) -> RunnerSteps:
    return Services.model_validate({"stop_services": yaml.safe_load(text)}).stop_services


def _errors(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        _steps(text)
    return [(".".join(map(str, e["loc"][1:])), e["msg"]) for e in caught.value.errors()]


# -- validation -------------------------------------------------------------------------------------------


def test_every_kind_parses_and_is_titled_exactly() -> None:
    steps = to_steps(_steps("""
        - run: [systemctl, stop, "app server"]
          cwd: /srv/app
          env: {DJANGO_SETTINGS_MODULE: prod, TOKEN: s3cret}
        - docker_exec: {container: web, argv: [python, manage.py, migrate]}
        - docker_stop: web
        - docker_stop: {container: worker, timeout: 1m}
        - docker_restart: {container: worker, timeout: 10s}
        - docker_start: web
        - docker_tag: {image: "app:backup", as: "app:latest"}
        - http_check: {url: "http://127.0.0.1:8000/health", expect_status: 204, within: 2m, every: 2s}
    """))
    assert [s.title for s in steps] == [
        "run systemctl stop 'app server' in /srv/app with DJANGO_SETTINGS_MODULE, TOKEN set",
        "docker exec web python manage.py migrate",
        "docker stop web (timeout 10s)",
        "docker stop worker (timeout 1m)",
        "docker restart worker (timeout 10s)",
        "docker start web",
        "docker tag app:backup app:latest",
        "wait until http://127.0.0.1:8000/health answers 204 (within 2m, every 2s)",
    ]
    assert all("s3cret" not in s.title for s in steps)


def test_validation_errors_name_the_key() -> None:
    assert _errors("""
        - docker_stop: {container: worker, timout: 30s}
        - docker_stopp: web
        - run: []
        - {run: [a], cwd: relative/path}
        - docker_restart: {container: web, timeout: 2x}
        - {docker_start: a, docker_stop: b}
        - http_check: {url: "ftp://example.com"}
        - docker_tag: {image: "App:backup", as: "app:latest", force: true}
        - just text
        - docker_restart: {timeout: 3s}
        - docker_exec: {container: "web server", argv: [ls]}
        - http_check: {url: "http://127.0.0.1/health", within: 5s, every: 10s}
        - docker_tag: {image: "app:backup"}
    """) == [
        ("0.docker_stop.timout", "unknown key; did you mean 'timeout'? known keys are container, timeout"),
        ("1", "a runner step needs one of the keys run, docker_exec, docker_restart, docker_stop, docker_start, "
              "docker_recreate, docker_tag, http_check; did you mean 'docker_stop'?"),
        ("2.run", "Tuple should have at least 1 item after validation, not 0"),
        ("3.cwd", "Value error, 'relative/path' is not an absolute path; write it like /srv/app"),
        ("4.docker_restart.timeout", "Value error, '2x' is not a duration; write it like 30s, 15m, 2h, 7d or 1h30m"),
        ("5", "one kind per step: this one has docker_stop and docker_start"),
        ("6.http_check.url", "Value error, 'ftp://example.com' is not an http(s) URL; "
                             "write it like http://127.0.0.1:8000/health"),
        ("7.docker_tag.image", "Value error, 'App:backup' is not an image reference; "
                               "write it like app:latest or registry:5000/team/app:v2"),
        ("7.docker_tag.force", "unknown key; known keys are image, as"),
        ("8", "a runner step is a mapping with one of the keys run, docker_exec, docker_restart, docker_stop, "
              "docker_start, docker_recreate, docker_tag, http_check"),
        ("9.docker_restart.container", "Field required"),
        ("10.docker_exec.container", "Value error, 'web server' is not a container name; "
                                     "write it like web or app_worker_1"),
        ("11.http_check", "Value error, every must not be longer than within"),
        ("12.docker_tag.as", "Field required"),
    ]


def test_credentials_in_a_health_url_are_refused() -> None:
    assert _errors('- http_check: {url: "http://admin:pw@127.0.0.1/health"}') == [
        ("0.http_check.url", "Value error, put no credentials in the health URL: it is shown in Slack")]


def test_steps_survive_a_round_trip_through_the_model() -> None:
    steps = _steps("[{docker_tag: {image: 'app:backup', as: 'app:latest'}}, {docker_stop: web}]")
    assert Services(stop_services=steps).stop_services == steps


# -- running them -----------------------------------------------------------------------------------------


def _context(tmp_path: Path, engine_url: str | None = None, notes: list[str] | None = None) -> StepContext:
    cancel = threading.Event()
    docker = DockerRunner(engine_url, redact=str, cancel=cancel) if engine_url else None
    return StepContext(runner=LocalRunner(redact=str, cancel=cancel, deadline=None), workdir=tmp_path,
                       docker=docker, cancel=cancel, notes=(notes if notes is not None else []).append)


def test_run_step_runs_a_local_process_in_its_folder(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    step, failing = to_steps(_steps(f"""
        - run: [sh, -c, 'echo "$GREETING from $(pwd)" > out.txt']
          cwd: {tmp_path}/app
          env: {{GREETING: hello}}
        - run: [sh, -c, "echo cannot stop >&2; exit 3"]
    """))
    ctx = _context(tmp_path)
    step.action(ctx)
    assert (tmp_path / "app" / "out.txt").read_text() == f"hello from {tmp_path}/app\n"
    with pytest.raises(StepFailed, match="^sh exited with 3: cannot stop$"):
        failing.action(ctx)


def test_docker_steps_against_the_engine(tmp_path: Path, dockerd: Dockerd) -> None:
    dockerd.run_container("web")
    dockerd.run_container("worker", running=False)
    backup = dockerd.image("app:backup")
    ctx = _context(tmp_path, dockerd.base_url)
    since = time.time()
    for step in to_steps(_steps("""
        - docker_exec: {container: web, argv: [sh, -c, "exit 0"]}
        - docker_stop: {container: web, timeout: 30s}
        - docker_start: worker
        - docker_restart: {container: worker, timeout: 1m}
        - docker_tag: {image: "app:backup", as: "app:latest"}
        - docker_start: web
    """)):
        step.action(ctx)
    assert dockerd.api is not None
    assert all(dockerd.api.inspect_container(c)["State"]["Running"] for c in ("web", "worker"))
    assert dockerd.image_id("app:latest") == backup
    assert [e for e in dockerd.events(since) if e[0] in ("exec_start", "stop", "start", "restart", "tag")] == [
        ("exec_start", "web"), ("stop", "web"), ("start", "worker"), ("stop", "worker"), ("start", "worker"),
        ("restart", "worker"), ("tag", "app:latest"), ("start", "web"),
    ]
    with pytest.raises(StepFailed, match="^no such container: ghost$"):
        to_step(_steps("[{docker_restart: ghost}]")[0]).action(ctx)
    with pytest.raises(StepFailed, match="^sh in container web exited with 2: no migrations$"):
        to_step(_steps("[{docker_exec: {container: web, argv: [sh, -c, 'echo no migrations >&2; exit 2']}}]")[0]) \
            .action(ctx)
    dockerd.remove_container("web")
    dockerd.remove_container("worker")


def test_docker_step_without_an_engine_says_so(tmp_path: Path) -> None:
    step = to_step(_steps("[{docker_restart: web}]")[0])
    with pytest.raises(StepFailed, match=r"^docker restart web \(timeout 10s\): needs the Docker engine"):
        step.action(_context(tmp_path))


# -- health checks against a real HTTP server -------------------------------------------------------------


class _Health:
    """A local HTTP server answering 503 until ``healthy_after`` seconds have passed, then 200."""

    def __init__(self, healthy_after: float, *, redirect: bool = False) -> None:
        self.started = time.monotonic()
        self.requests = 0
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                health.requests += 1
                if redirect:
                    self.send_response(302)
                    self.send_header("Location", "/login")
                elif time.monotonic() - health.started >= healthy_after:
                    self.send_response(200)
                else:
                    self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _check(url: str, *, within: float = 5, every: float = 0.1, expect: int = 200) -> HttpCheck:
    return HttpCheck(url=url, expect_status=expect, within=timedelta(seconds=within), every=timedelta(seconds=every),
                     timeout=timedelta(seconds=1))


def test_http_check_waits_until_healthy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a proxy in the environment is not used
    health = _Health(healthy_after=0.6)
    try:
        notes: list[str] = []
        ctx = _context(tmp_path, notes=notes)
        started = time.monotonic()
        wait_until_healthy(ctx, _check(health.url))
        assert 0.6 <= time.monotonic() - started < 3
        assert health.requests >= 3
        assert notes == [f"{health.url} answered 200 after {health.requests} attempt(s)"]
        # the YAML form, with whole-second durations, through to_step
        to_step(_steps(f"[{{http_check: {{url: '{health.url}', within: 5s, every: 1s}}}}]")[0]).action(ctx)
    finally:
        health.close()


def test_http_check_gives_up_after_within_and_says_what_it_saw(tmp_path: Path) -> None:
    health = _Health(healthy_after=3600)
    try:
        started = time.monotonic()
        with pytest.raises(StepFailed, match=r"did not answer 200 within 1s \(\d+ attempts; last: it answered 503\)"):
            wait_until_healthy(_context(tmp_path), _check(health.url, within=1, every=0.2))
        assert 1 <= time.monotonic() - started < 2.5
    finally:
        health.close()
    # nothing listening now
    with pytest.raises(StepFailed, match=r"last: connection refused\)$"):
        wait_until_healthy(_context(tmp_path), _check(health.url, within=0.5))


def test_http_check_does_not_follow_redirects(tmp_path: Path) -> None:
    health = _Health(healthy_after=0, redirect=True)
    try:
        with pytest.raises(StepFailed, match=r"last: it answered 302\)$"):
            wait_until_healthy(_context(tmp_path), _check(health.url, within=0.5))
        wait_until_healthy(_context(tmp_path), _check(health.url, expect=302))
    finally:
        health.close()


def test_http_check_stops_on_cancel(tmp_path: Path) -> None:
    health = _Health(healthy_after=3600)
    try:
        ctx = _context(tmp_path)
        threading.Timer(0.3, ctx.cancel.set).start()
        started = time.monotonic()
        with pytest.raises(Cancelled, match="cancelled"):
            wait_until_healthy(ctx, _check(health.url, within=60, every=5))
        assert time.monotonic() - started < 1.5
    finally:
        health.close()
