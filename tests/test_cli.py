"""The `opsbot` command: the sandbox a newcomer starts, `check`, and `db upgrade`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.sandbox.services.process import free_port
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")


def opsbot(*args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_URL"))}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env={**base, "PORT": str(free_port()), **(env or {})}, timeout=120)


def leftovers(*folders: str) -> list[str]:
    """Processes whose command line or working folder is in one of the folders."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if any(folder in cmdline or cwd.startswith(folder) for folder in folders):
            found.append(f"{proc.name}: {cmdline}")
    return found


def test_sandbox_console_declares_an_incident_and_quitting_stops_everything(tmp_path: Path) -> None:
    result = opsbot("sandbox", "--sandbox-port", "0", cwd=tmp_path,
                    stdin="/incident declare P1 Checkout is failing\n:channels\n")
    assert result.returncode == 0, result.stderr
    assert "Declaring INC-0001" in result.stdout
    assert "#incident-" in result.stdout and "P1 - High · Checkout is failing" in result.stdout
    folder = tmp_path / "opsbot-sandbox"
    assert (folder / "opsbot.db").exists()  # SQLite in the sandbox folder
    postgres = re.search(r"data in (\S+)", result.stdout)[1]  # type: ignore[index]
    assert "Sandbox stopped" in result.stdout and leftovers(str(folder), postgres) == []


def test_sandbox_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_URL"))}
    out = tmp_path / "out"
    with out.open("w") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "sandbox", "--sandbox-port", "0"], cwd=tmp_path,
                                env={**base, "PORT": str(free_port())}, stdin=subprocess.PIPE, stdout=stdout,
                                stderr=subprocess.STDOUT, text=True)
    try:
        eventually(lambda: "you are @alice" in out.read_text() or proc.poll() is not None, timeout=120,
                   what="the console")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    output = out.read_text()
    postgres = re.search(r"data in (\S+)", output)[1]  # type: ignore[index]
    assert "Sandbox stopped" in output and "Traceback" not in output
    assert leftovers(str(tmp_path / "opsbot-sandbox"), postgres) == []


def test_check_reports_file_and_key(tmp_path: Path) -> None:
    assert opsbot("check", cwd=tmp_path).returncode == 0
    pack = tmp_path / "pack"
    pack.mkdir()
    severities = yaml.safe_load((Path(__file__).parents[1] / "playbooks/pack/severities.yaml").read_text())
    severities["P1"]["update_every"] = "soon"
    (pack / "severities.yaml").write_text(yaml.safe_dump(severities))
    result = opsbot("check", cwd=tmp_path, env={"OPSBOT_PLAYBOOKS": str(pack)})
    assert result.returncode == 1
    assert "severities.yaml" in result.stdout and "P1.update_every" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_serve_refuses_an_invalid_pack(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "roles.yaml").write_text("- key: incident_commander\n  name: [unclosed\n")
    result = opsbot("serve", cwd=tmp_path, env={"OPSBOT_PLAYBOOKS": str(pack), "SLACK_BOT_TOKEN": "xoxb-1",
                                                "SLACK_SIGNING_SECRET": "s"})
    assert result.returncode == 2
    assert "roles.yaml" in result.stderr and "Traceback" not in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = opsbot("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 0 and "up to date" in result.stdout
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(tmp_path / "x.db").execute("select name from sqlite_master")}
    assert {"incident", "timeline_entry", "role_assignment", "checklist_tick", "outbound_message",
            "postmortem", "status_update", "alembic_version"} <= tables
