"""The `opsbot` command: the sandbox a newcomer starts, `check`, and `db upgrade`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.bot import free_port

pytestmark = pytest.mark.kind("e2e")


def opsbot(*args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_URL"))}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env={**base, "PORT": str(free_port()), **(env or {})}, timeout=120)


def test_sandbox_console_declares_an_incident(tmp_path: Path) -> None:
    result = opsbot("sandbox", "--sandbox-port", "0", cwd=tmp_path,
                    stdin="/incident declare P1 Checkout is failing\n:channels\n")
    assert result.returncode == 0, result.stderr
    assert "Declaring INC-0001" in result.stdout
    assert "#incident-" in result.stdout and "P1 - High · Checkout is failing" in result.stdout
    assert (tmp_path / "opsbot.db").exists()  # the embedded default: SQLite in the working folder


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
