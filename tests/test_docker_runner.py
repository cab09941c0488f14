"""The docker runner driven through the real docker SDK against the Engine API stand-in
(tests/support/docker_engine.py): exec output and exit codes, streaming to a file with flat memory,
stdin, Cancel and deadline, container state changes, tags, and the errors people will see."""

from __future__ import annotations

import io
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from bot.executor.docker_runner import DockerRunner
from bot.executor.plan import Cancelled, StepFailed
from bot.sandbox.services.postgres import PostgresServer, find_bindir
from tests.support.docker_engine import Call, DockerEngineStandIn

pytestmark = pytest.mark.kind("integration")


def _redact(text: str) -> str:
    return text.replace("hunter2", "[redacted]")


@pytest.fixture
def runner(docker_stand_in: DockerEngineStandIn) -> Iterator[DockerRunner]:
    runner = DockerRunner(docker_stand_in.base_url, redact=_redact, timeout_seconds=5)
    yield runner
    runner.close()


# -- the stand-in speaks the Engine API as the SDK expects ------------------------------------------------


def test_the_sdk_high_level_client_works_against_the_stand_in(docker_stand_in: DockerEngineStandIn) -> None:
    client = docker.DockerClient(base_url=docker_stand_in.base_url, timeout=5)
    assert client.version()["ApiVersion"] == "1.43"
    web = client.containers.get("web")
    assert (web.name, web.status) == ("web", "running")
    assert web.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"], demux=True) == (3, (b"out\n", b"err\n"))
    stream = web.exec_run(["sh", "-c", "echo 1; echo 2 >&2"], stream=True, demux=True).output
    frames = list(stream)
    assert (b"1\n", None) in frames and (None, b"2\n") in frames and len(frames) == 2
    assert client.images.get("app:backup").tag("app", "latest")
    assert docker_stand_in.image_id("app:latest") == docker_stand_in.image_id("app:backup")
    with pytest.raises(docker.errors.NotFound, match="No such container: ghost"):
        client.containers.get("ghost")
    client.close()


# -- exec -------------------------------------------------------------------------------------------------


def test_exec_returns_exit_code_and_redacted_output(runner: DockerRunner, docker_stand_in: DockerEngineStandIn) -> None:
    result = runner.exec("web", ["sh", "-c", 'echo "token $TOKEN"; echo hunter2 >&2'], env={"TOKEN": "s3cr3t-value"})
    assert result.returncode == 0
    assert result.argv == ("sh", "-c", 'echo "token $TOKEN"; echo hunter2 >&2')
    assert "token [redacted]" in result.output and "[redacted]" in result.output
    assert "s3cr3t-value" not in result.output and "hunter2" not in result.output
    assert docker_stand_in.calls[-1].action == "exec" and docker_stand_in.calls[-1].target == "web"

    quiet = runner.exec("web", ["sh", "-c", "echo nope >&2; exit 7"], check=False)
    assert (quiet.returncode, quiet.output) == (7, "nope\n")


def test_exec_failure_is_a_clear_step_failure(runner: DockerRunner) -> None:
    with pytest.raises(StepFailed, match=r"^sh in container web exited with 4: second$"):
        runner.exec("web", ["sh", "-c", "echo first >&2; echo second >&2; exit 4"])
    with pytest.raises(StepFailed, match="exited with 127"):
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


def test_pg_dump_through_docker_exec(runner: DockerRunner, postgres_server: PostgresServer,
                                     postgres_url: str, tmp_path: Path) -> None:
    """The seed's ``docker exec postgres pg_dump``: the stand-in runs it against a real PostgreSQL."""
    engine_dump = tmp_path / "dump.sql"
    database = postgres_url.rsplit("/", 1)[1]
    pg_dump = str(find_bindir() / "pg_dump")
    runner.exec("web", [pg_dump, "-h", "127.0.0.1", "-p", str(postgres_server.port), "-U", "postgres", database],
                stdout=engine_dump)
    assert "-- PostgreSQL database dump complete" in engine_dump.read_text()
    with pytest.raises(StepFailed, match=r"^pg_dump in container web exited with 1: .*no_such_db"):
        runner.exec("web", [pg_dump, "-h", "127.0.0.1", "-p", str(postgres_server.port), "-U", "postgres",
                            "no_such_db"], stdout=tmp_path / "nothing.sql")


def test_cancel_stops_a_running_exec_promptly(docker_stand_in: DockerEngineStandIn) -> None:
    cancel = threading.Event()
    runner = DockerRunner(docker_stand_in.base_url, redact=_redact, cancel=cancel)
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="cancelled"):
        runner.exec("web", ["sh", "-c", "echo started; sleep 30"])
    assert time.monotonic() - started < 3


def test_deadline_stops_a_quiet_exec(docker_stand_in: DockerEngineStandIn) -> None:
    runner = DockerRunner(docker_stand_in.base_url, redact=_redact, deadline=time.monotonic() + 0.3)
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


def test_restart_stop_start_change_state(runner: DockerRunner, docker_stand_in: DockerEngineStandIn) -> None:
    runner.stop("web", timeout_seconds=3)
    assert docker_stand_in.containers["web"].status == "exited"
    runner.start("web")
    assert docker_stand_in.containers["web"].status == "running"
    runner.start("worker")
    runner.restart("worker", timeout_seconds=7)
    assert docker_stand_in.containers["worker"].status == "running"
    assert docker_stand_in.calls == [Call("stop", "web", {"t": "3"}), Call("start", "web"), Call("start", "worker"),
                            Call("restart", "worker", {"t": "7"})]
    runner.start("web")  # already running: the engine answers 304, which is fine
    runner.stop("worker")
    runner.stop("worker")


def test_slow_stop_within_its_timeout_outlasts_the_client_timeout(docker_stand_in: DockerEngineStandIn) -> None:
    docker_stand_in.containers["web"].stop_seconds = 1.5
    runner = DockerRunner(docker_stand_in.base_url, redact=_redact, timeout_seconds=1)
    runner.stop("web", timeout_seconds=2)  # the SDK adds the stop timeout to the request's
    assert docker_stand_in.containers["web"].status == "exited"


def test_unknown_container(runner: DockerRunner) -> None:
    for call in (lambda: runner.restart("ghost"), lambda: runner.stop("ghost"), lambda: runner.start("ghost")):
        with pytest.raises(StepFailed, match="^no such container: ghost$"):
            call()


def test_tag_backup_as_latest(runner: DockerRunner, docker_stand_in: DockerEngineStandIn) -> None:
    runner.tag("app:backup", "app:latest")
    assert docker_stand_in.image_id("app:latest") == docker_stand_in.image_id("app:backup")
    runner.tag("app:backup", "registry.example.com:5000/team/app")
    backup = docker_stand_in.image_id("app:backup")
    assert docker_stand_in.image_id("registry.example.com:5000/team/app:latest") == backup
    with pytest.raises(StepFailed, match="^no such image: web:backup$"):
        runner.tag("web:backup", "web:latest")
    with pytest.raises(StepFailed, match="is not an image reference"):
        runner.tag("app:backup", "")


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


def test_engine_going_away_after_first_use(docker_stand_in: DockerEngineStandIn, runner: DockerRunner) -> None:
    runner.restart("web")
    docker_stand_in.stop()
    with pytest.raises(StepFailed, match="^cannot reach the Docker engine at"):
        runner.restart("web")
