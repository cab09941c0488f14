"""The docker runner against a real Docker Engine (the suite's own, tests/support/dockerd.py): exec
output and exit codes, streaming to a file with flat memory, stdin, Cancel and deadline, container
state changes, tags, recreating a container from its retagged image, and the errors people will see.

The Engine API stand-in (tests/support/docker_engine.py) remains for one fault only: the engine
going away between two calls, which the suite's shared engine cannot be made to do."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.executor.docker_runner import DockerRunner
from bot.executor.plan import Cancelled, StepFailed
from tests.support.docker_engine import DockerEngineStandIn
from tests.support.dockerd import Dockerd
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("integration")


def _redact(text: str) -> str:
    return text.replace("hunter2", "[redacted]")


@pytest.fixture
def web(dockerd: Dockerd) -> Iterator[str]:
    """A running ``web`` and an exited ``worker``."""
    dockerd.run_container("web")
    dockerd.run_container("worker", running=False)
    yield "web"
    dockerd.remove_container("web")
    dockerd.remove_container("worker")


@pytest.fixture
def runner(dockerd: Dockerd, web: str) -> Iterator[DockerRunner]:
    runner = DockerRunner(dockerd.base_url, redact=_redact, timeout_seconds=5)
    yield runner
    runner.close()


def _state(dockerd: Dockerd, name: str) -> str:
    assert dockerd.api is not None
    return str(dockerd.api.inspect_container(name)["State"]["Status"])


# -- exec -------------------------------------------------------------------------------------------------


def test_exec_returns_exit_code_and_redacted_output(runner: DockerRunner) -> None:
    result = runner.exec("web", ["sh", "-c", 'echo "token $TOKEN"; echo hunter2 >&2'], env={"TOKEN": "s3cr3t-value"})
    assert result.returncode == 0
    assert result.argv == ("sh", "-c", 'echo "token $TOKEN"; echo hunter2 >&2')
    assert "token [redacted]" in result.output and "[redacted]" in result.output
    assert "s3cr3t-value" not in result.output and "hunter2" not in result.output

    quiet = runner.exec("web", ["sh", "-c", "echo nope >&2; exit 7"], check=False)
    assert (quiet.returncode, quiet.output) == (7, "nope\n")


def test_exec_failure_is_a_clear_step_failure(runner: DockerRunner) -> None:
    with pytest.raises(StepFailed, match=r"^sh in container web exited with 4: second$"):
        runner.exec("web", ["sh", "-c", "echo first >&2; echo second >&2; exit 4"])
    with pytest.raises(StepFailed, match=r"^no-such-program-here in container web exited with 126: .*"
                                         r"executable file not found"):
        runner.exec("web", ["no-such-program-here"])


def test_exec_streams_stdout_to_a_file_and_keeps_stderr(runner: DockerRunner, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    result = runner.exec("web", ["sh", "-c", "seq 1 100000; echo done >&2"], stdout=out)
    assert out.read_text().splitlines()[-1] == "100000"
    assert len(out.read_text().splitlines()) == 100000
    assert result.output == "done\n"


def test_exec_streams_50_mb_with_flat_memory(runner: DockerRunner, tmp_path: Path) -> None:
    size = 50 * 1024 * 1024
    out = tmp_path / "big.bin"
    tracemalloc.start()
    try:
        started = time.monotonic()
        runner.exec("web", ["head", "-c", str(size), "/dev/urandom"], stdout=out)
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.stat().st_size == size
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak / 1e6:.1f} MB while streaming 50 MB"
    print(f"streamed 50 MB in {seconds:.2f}s ({size / seconds / 1e6:.0f} MB/s), peak traced {peak / 1e6:.1f} MB")


def test_exec_output_tail_is_bounded(runner: DockerRunner) -> None:
    result = runner.exec("web", ["sh", "-c", "seq 1 200000 >&2"])
    assert len(result.output) <= 16_384
    assert result.output.endswith("199999\n200000\n")


def test_exec_feeds_stdin(runner: DockerRunner, tmp_path: Path) -> None:
    data = b"".join(b"line %d\n" % i for i in range(100_000))
    out = tmp_path / "copy.txt"
    runner.exec("web", ["cat"], stdin=io.BytesIO(data), stdout=out)
    assert out.read_bytes() == data


def test_cancel_stops_a_running_exec_promptly(dockerd: Dockerd, web: str) -> None:
    cancel = threading.Event()
    runner = DockerRunner(dockerd.base_url, redact=_redact, cancel=cancel)
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="cancelled"):
        runner.exec("web", ["sh", "-c", "echo started; sleep 30"])
    assert time.monotonic() - started < 3


def _running_in(dockerd: Dockerd, container: str) -> list[str]:
    """The command lines of the container's processes (``docker top``)."""
    assert dockerd.api is not None
    top = dockerd.api.top(container, ps_args="-o pid,args")
    return [row[-1] for row in top.get("Processes") or []]


def test_cancel_stops_the_exec_and_its_children_inside_the_container(dockerd: Dockerd, web: str) -> None:
    """The Engine API only closes the stream: the command itself is stopped by a second exec."""
    cancel = threading.Event()
    runner = DockerRunner(dockerd.base_url, redact=_redact, cancel=cancel)
    argv = ["sh", "-c", "trap '' TERM; sleep 301 & sleep 302 & wait"]  # ignores SIGTERM: SIGKILL after the grace
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(Cancelled, match="cancelled"):
        runner.exec("web", argv)
    assert not any("sleep 30" in line for line in _running_in(dockerd, "web")), _running_in(dockerd, "web")

    other = DockerRunner(dockerd.base_url, redact=_redact, deadline=time.monotonic() + 0.5)
    with pytest.raises(Cancelled, match="timed out"):
        other.exec("web", ["sleep", "303"])
    assert not any("sleep 303" in line for line in _running_in(dockerd, "web"))
    assert any("sleep infinity" in line for line in _running_in(dockerd, "web")), "nothing else was hit"


def test_an_exec_whose_bot_was_killed_is_stopped_by_the_next_start(dockerd: Dockerd, web: str, tmp_path: Path) -> None:
    """A bot process killed (SIGKILL) during a docker exec: the exec lives on in the container; the
    next start finds it by the mark it recorded and stops it, and records the run as interrupted."""
    from sqlmodel import Session, select

    from bot.executor.executor import Executor
    from bot.executor.worker import RunWorker, WorkerDeps
    from bot.identity import Identity, machine
    from bot.work import UnitOfWork
    from playbooks.loader import load_playbook
    from storage.db import make_engine
    from storage.migrate import upgrade
    from storage.runs import Run, RunProcess
    from tests.support.clock import FakeClock
    from tests.support.directory import StaticDirectory

    script = (f"from bot.executor.docker_runner import DockerRunner\n"
              f"def track(engine, container, mark, argv):\n"
              f"    print(engine.machine, engine.pid, container, mark, flush=True)\n"
              f"    return lambda: None\n"
              f"DockerRunner({dockerd.base_url!r}, redact=str, track=track).exec('web', "
              f"['sh', '-c', 'sleep 305 & wait'])\n")
    bot = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).parents[1])
    assert bot.stdout is not None
    engine_url, pid, container, mark = bot.stdout.readline().decode().split()
    eventually(lambda: any("sleep 305" in line for line in _running_in(dockerd, "web")), what="the exec's child")
    bot.kill()
    bot.wait()
    time.sleep(0.3)
    assert any("sleep 305" in line for line in _running_in(dockerd, "web")), "the exec outlives the killed bot"
    assert engine_url == dockerd.base_url and container == "web"

    database = make_engine(f"sqlite:///{tmp_path}/opsbot.db")
    upgrade(database)
    clock = FakeClock()
    with Session(database) as session:
        run = Run(action="restore", params="{}", risk="low", approvals_needed=0, requested_by="U0ALICE",
                  requested_in="C0PLATFORM", source="command", plan="[]", status="running", requested_at=clock(),
                  worker=Identity(machine(), bot.pid, 1).key)
        session.add(run)
        session.commit()
        session.add(RunProcess(run_id=run.id, machine=engine_url, pid=int(pid), start=0, container="web", mark=mark,
                               command="sh -c 'sleep 305 & wait'", started_at=clock()))
        session.commit()
    work = UnitOfWork(database, load_playbook(), clock, StaticDirectory())
    docker = WorkerDeps(work, lambda cancel, deadline, track: DockerRunner(dockerd.base_url, redact=_redact))
    executor = Executor(work, None, RunWorker(docker, None))  # type: ignore[arg-type]  # no Slack, no pool here
    assert executor.stop_orphans() == 1
    assert not any("sleep 305" in line for line in _running_in(dockerd, "web"))
    assert any("sleep infinity" in line for line in _running_in(dockerd, "web")), "nothing else was hit"
    with Session(database) as session:
        [done] = session.exec(select(Run)).all()
        assert session.exec(select(RunProcess)).all() == []
    assert done.status == "failed" and "It stopped what the run had left running: `sh -c 'sleep 305 & wait'`" \
        in done.outcome
    assert executor.stop_orphans() == 0
    database.dispose()


def test_deadline_stops_a_quiet_exec(dockerd: Dockerd, web: str) -> None:
    runner = DockerRunner(dockerd.base_url, redact=_redact, deadline=time.monotonic() + 0.5)
    with pytest.raises(Cancelled, match="timed out"):
        runner.exec("web", ["sleep", "30"])
    with pytest.raises(Cancelled, match="timed out"):  # and nothing new starts after it
        runner.restart("web")


def test_exec_in_unknown_or_stopped_container(runner: DockerRunner) -> None:
    with pytest.raises(StepFailed, match="^no such container: ghost$"):
        runner.exec("ghost", ["true"])
    with pytest.raises(StepFailed, match="^container worker is not running$"):
        runner.exec("worker", ["true"])


# -- containers and images --------------------------------------------------------------------------------


def test_restart_stop_start_change_state(runner: DockerRunner, dockerd: Dockerd) -> None:
    since = time.time()
    runner.stop("web", timeout_seconds=3)
    assert _state(dockerd, "web") == "exited"
    runner.start("web")
    assert _state(dockerd, "web") == "running"
    runner.start("worker")
    runner.restart("worker", timeout_seconds=7)
    assert _state(dockerd, "worker") == "running"
    seen = [event for event in dockerd.events(since) if event[0] in ("stop", "start", "restart")]
    assert seen == [("stop", "web"), ("start", "web"), ("start", "worker"), ("stop", "worker"),
                    ("start", "worker"), ("restart", "worker")]
    runner.start("web")  # already running: the engine answers 304, which is fine
    runner.stop("worker")
    runner.stop("worker")


def test_a_slow_stop_within_its_timeout_outlasts_the_client_timeout(dockerd: Dockerd) -> None:
    dockerd.run_container("stubborn", stop_signal="SIGTERM")  # PID 1 ignores SIGTERM: killed after the timeout
    runner = DockerRunner(dockerd.base_url, redact=_redact, timeout_seconds=1)
    started = time.monotonic()
    runner.stop("stubborn", timeout_seconds=2)  # the SDK adds the stop timeout to the request's
    assert time.monotonic() - started >= 2
    assert _state(dockerd, "stubborn") == "exited"
    dockerd.remove_container("stubborn")


def test_unknown_container(runner: DockerRunner) -> None:
    for call in (lambda: runner.restart("ghost"), lambda: runner.stop("ghost"), lambda: runner.start("ghost"),
                 lambda: runner.recreate("ghost")):
        with pytest.raises(StepFailed, match="^no such container: ghost$"):
            call()


def test_tag_backup_as_latest(runner: DockerRunner, dockerd: Dockerd) -> None:
    backup = dockerd.image("app:backup")
    runner.tag("app:backup", "app:latest")
    assert dockerd.image_id("app:latest") == backup
    runner.tag("app:backup", "registry.example.com:5000/team/app")
    assert dockerd.image_id("registry.example.com:5000/team/app:latest") == backup
    assert runner.image_id("app:latest") == backup and runner.image_id("nothing:here") is None
    with pytest.raises(StepFailed, match="^no such image: web:backup$"):
        runner.tag("web:backup", "web:latest")
    with pytest.raises(StepFailed, match="is not an image reference"):
        runner.tag("app:backup", "")


# -- recreate: the retagged image really runs ----------------------------------------------------------------


@pytest.fixture
def app(dockerd: Dockerd) -> Iterator[tuple[str, str]]:
    """``app`` running ``app:latest`` (RELEASE=2) on a network with the alias ``shop``, a volume and
    its own environment; ``app:backup`` is RELEASE=1. Yields (backup ID, latest ID)."""
    assert dockerd.api is not None
    api = dockerd.api
    backup, latest = dockerd.image("app:backup", "ENV RELEASE=1"), dockerd.image("app:latest", "ENV RELEASE=2")
    api.create_network("recreate-net")
    dockerd.remove_container("app")
    created = api.create_container(
        "app:latest", ["sleep", "infinity"], name="app", environment={"GREETING": "hello"},
        labels={"com.example.role": "web"}, stop_signal="SIGKILL",
        host_config=api.create_host_config(network_mode="recreate-net", binds={"recreate-data": {"bind": "/data"}},
                                           restart_policy={"Name": "unless-stopped"}),
        networking_config=api.create_networking_config({"recreate-net": api.create_endpoint_config(aliases=["shop"])}))
    api.start(created["Id"])
    dockerd.cli("exec", "app", "sh", "-c", "echo kept > /data/file")
    yield backup, latest
    dockerd.remove_container("app")
    for name in [c["Names"][0].lstrip("/") for c in api.containers(all=True) if "app-replaced" in c["Names"][0]]:
        dockerd.remove_container(name)
    api.remove_network("recreate-net")
    api.remove_volume("recreate-data", force=True)


def test_recreate_runs_the_image_the_tag_names_now_with_the_same_settings(
        dockerd: Dockerd, app: tuple[str, str]) -> None:
    backup, _latest = app
    assert dockerd.api is not None
    old = dockerd.api.inspect_container("app")
    runner = DockerRunner(dockerd.base_url, redact=_redact)
    runner.tag("app:backup", "app:latest")
    assert dockerd.api.inspect_container("app")["Image"] != backup, "a tag alone changes no container"

    assert runner.recreate("app", timeout_seconds=2) == backup
    new = dockerd.api.inspect_container("app")
    assert new["Id"] != old["Id"] and new["Image"] == backup and new["State"]["Running"]
    env = dict(e.split("=", 1) for e in new["Config"]["Env"])
    assert env["RELEASE"] == "1", "the new image's own default, not the old image's"
    assert env["GREETING"] == "hello", "what the container itself set is kept"
    assert new["Config"]["Labels"]["com.example.role"] == "web"
    assert new["Config"]["Cmd"] == ["sleep", "infinity"]
    assert new["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert "shop" in new["NetworkSettings"]["Networks"]["recreate-net"]["Aliases"]
    assert dockerd.cli("exec", "app", "cat", "/data/file").stdout == b"kept\n", "the volume came along"
    assert [c for c in dockerd.api.containers(all=True) if "app-replaced" in c["Names"][0]] == [], "old one removed"


def test_a_recreate_that_fails_puts_the_old_container_back(dockerd: Dockerd, app: tuple[str, str]) -> None:
    assert dockerd.api is not None
    old = dockerd.api.inspect_container("app")
    runner = DockerRunner(dockerd.base_url, redact=_redact)
    dockerd.api.remove_image("app:latest", force=True)  # the container still runs its image, untagged
    with pytest.raises(StepFailed, match="^container app: no such image: app:latest$"):
        runner.recreate("app")
    assert dockerd.api.inspect_container("app")["Id"] == old["Id"], "checked before anything was stopped"

    dockerd.image("app:latest", "USER nobody-here")  # created fine, cannot start
    with pytest.raises(StepFailed, match="^container app: the Docker engine said: .*nobody-here"):
        runner.recreate("app", timeout_seconds=1)
    again = dockerd.api.inspect_container("app")
    assert again["Id"] == old["Id"] and again["State"]["Running"], "the old container is back and running"
    names = sorted(c["Names"][0] for c in dockerd.api.containers(all=True) if "app" in c["Names"][0])
    assert names == ["/app"], "neither the new container nor a renamed old one is left"
    assert dockerd.cli("exec", "app", "cat", "/data/file").stdout == b"kept\n"


# -- the engine unreachable -------------------------------------------------------------------------------


def test_engine_unreachable(tmp_path: Path) -> None:
    missing = DockerRunner(f"unix://{tmp_path}/missing.sock", redact=_redact)
    with pytest.raises(StepFailed, match=rf"^cannot reach the Docker engine at unix://{tmp_path}/missing.sock"):
        missing.restart("web")
    with pytest.raises(StepFailed, match="^cannot reach the Docker engine at"):
        missing.exec("web", ["true"])

    deaf = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deaf.bind(str(tmp_path / "deaf.sock"))  # bound, never listening: connection refused
    try:
        with pytest.raises(StepFailed, match="^cannot reach the Docker engine at .*connection refused"):
            DockerRunner(f"unix://{tmp_path}/deaf.sock", redact=_redact).tag("app:backup", "app:latest")
    finally:
        deaf.close()


def test_engine_going_away_after_first_use(docker_stand_in: DockerEngineStandIn) -> None:
    """The stand-in: the suite's shared engine cannot be stopped under the other tests."""
    runner = DockerRunner(docker_stand_in.base_url, redact=_redact, timeout_seconds=5)
    runner.restart("web")
    docker_stand_in.stop()
    with pytest.raises(StepFailed, match="^cannot reach the Docker engine at"):
        runner.restart("web")
