"""The local runner with real processes: argv only, allowlisted environment, redaction, pipefail,
and timeouts or Cancel stopping the whole process group (grandchildren included)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from bot.executor.local import LocalRunner
from bot.executor.plan import Cancelled, StepFailed
from bot.logging import Redactor

pytestmark = pytest.mark.kind("unit")


def runner(*, deadline: float | None = None, cancel: threading.Event | None = None) -> LocalRunner:
    return LocalRunner(redact=Redactor(["hunter2-secret"]), cancel=cancel or threading.Event(), deadline=deadline)


def test_arguments_are_never_interpreted_by_a_shell(tmp_path: Path) -> None:
    result = runner().process(["echo", "$(touch pwned); `id`"], cwd=tmp_path)
    assert result.output.strip() == "$(touch pwned); `id`"
    assert not (tmp_path / "pwned").exists()


def test_only_allowlisted_environment_reaches_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-do-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    output = runner().process(["env"], env={"PGPASSWORD": "hunter2-pg"}).output
    names = {line.split("=", 1)[0] for line in output.splitlines() if "=" in line}
    assert "SLACK_BOT_TOKEN" not in names and "AWS_SECRET_ACCESS_KEY" not in names
    assert "PATH" in names and "PGPASSWORD" in names
    assert "hunter2-pg" not in output  # values handed to the process are redacted from its output


def test_settings_in_env_stay_readable_while_other_values_are_redacted() -> None:
    env = {"PGHOST": "db.internal", "PGPORT": "5433", "PGPASSWORD": "pg-pass-42", "API_TOKEN": "tok-9876"}
    output = runner().process(["sh", "-c", "echo $PGHOST:$PGPORT $PGPASSWORD $API_TOKEN"], env=env).output
    assert output.strip() == "db.internal:5433 [redacted] [redacted]"


def test_output_is_redacted_and_bounded() -> None:
    result = runner().process(["sh", "-c", "echo token xoxb-123-abc; echo hunter2-secret; head -c 5000000 /dev/zero"])
    assert "xoxb-123-abc" not in result.output and "hunter2-secret" not in result.output
    assert len(result.output) <= 20_000


def test_failure_names_the_program_and_its_last_words() -> None:
    with pytest.raises(StepFailed, match=r"sh exited with 3: boom"):
        runner().process(["sh", "-c", "echo boom >&2; exit 3"])
    with pytest.raises(StepFailed, match="no-such-tool is not installed"):
        runner().process(["no-such-tool", "--help"])


def test_pipefail_a_failing_producer_fails_the_pipeline(tmp_path: Path) -> None:
    out = tmp_path / "dump.gz"
    with pytest.raises(StepFailed, match="sh exited with 1"):
        runner().pipeline([["sh", "-c", "echo partial; exit 1"], ["gzip", "-6"]], stdout=out)
    ok = runner().pipeline([["printf", "hello"], ["gzip", "-6"]], stdout=tmp_path / "ok.gz")
    assert [r.returncode for r in ok] == [0, 0] and (tmp_path / "ok.gz").stat().st_size > 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_timeout_stops_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    began = time.monotonic()
    with pytest.raises(Cancelled, match="timed out"):
        runner(deadline=time.monotonic() + 1).process(
            ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"])
    assert time.monotonic() - began < 10
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_cancel_stops_a_running_process() -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    began = time.monotonic()
    with pytest.raises(Cancelled, match="cancelled"):
        runner(cancel=cancel).process(["sleep", "60"])
    assert time.monotonic() - began < 10
