"""What `opsbot serve` shows someone starting it: one line saying what it does, a bad bot token refused
in one line before anything else happens, and no library noise (every other line is our structlog JSON)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox.server import SandboxServer
from bot.sandbox.services.postgres import PostgresServer
from bot.sandbox.services.process import free_port
from bot.sandbox.simulator import SlackSimulator
from playbooks.loader import PACK_DIR
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")


@pytest.fixture
def slack() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


def environment(slack: SandboxServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_URL"))}
    identity = slack.workspace.identity
    env.update({"SLACK_BOT_TOKEN": identity.token, "SLACK_SIGNING_SECRET": identity.signing_secret,
                "SLACK_API_URL": slack.api_url, "PORT": str(free_port()), **extra})
    return env


def serve(tmp_path: Path, env: dict[str, str], *args: str, then=None) -> tuple[int, list[str], list[str]]:
    """Run `opsbot serve`, wait for its start line, do ``then(url)``, stop it with SIGTERM; its exit
    code, stdout lines and stderr lines."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", *args],
                                cwd=tmp_path, env=env, stdout=stdout, stderr=stderr)
    try:
        eventually(lambda: proc.poll() is not None or out.read_text().endswith("\n"), timeout=60,
                   what="the start line")
        if proc.poll() is None and then is not None:
            then(f"http://127.0.0.1:{env['PORT']}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return proc.returncode, out.read_text().splitlines(), err.read_text().splitlines()


def assert_only_our_logs(lines: list[str]) -> None:
    """Every line is a structlog JSON record of our own (a library's would carry its logger name)."""
    for line in lines:
        record = json.loads(line)
        assert "event" in record and "logger" not in record, line


def test_serve_says_in_one_line_what_it_does(tmp_path: Path, slack: SandboxServer,
                                             postgres_server: PostgresServer) -> None:
    postgres_server.create_database("first_contact")
    pack = tmp_path / "pack"
    pack.mkdir()
    for name in ("severities.yaml", "maintenance.html"):
        (pack / name).write_text((PACK_DIR / name).read_text())
    url = f"postgresql://postgres:hunter2@127.0.0.1:{postgres_server.port}/first_contact"
    env = environment(slack, DATABASE_URL=url, OPSBOT_PLAYBOOKS=str(pack))

    def use(bot_url: str) -> None:  # a request handled, so what logging it does is seen too
        simulator = SlackSimulator(bot_url, slack.workspace.identity.signing_secret, slack)
        eventually(lambda: simulator.command("U0ALICE", "C0GENERAL", "/incident", "help").status == 200,
                   timeout=30, what="the bot to answer")

    code, stdout, stderr = serve(tmp_path, env, then=use)
    assert code in (0, -signal.SIGTERM), stderr
    [line] = stdout
    port = env["PORT"]
    assert line == (f"opsbot: serving @opsbot of Sandbox over HTTP at http://127.0.0.1:{port}/slack/events · "
                    f"database postgresql+psycopg://postgres:***@127.0.0.1:{postgres_server.port}/first_contact · "
                    f"bundled pack, {pack} replacing maintenance.html, severities.yaml")
    assert_only_our_logs(stderr)
    assert "hunter2" not in "\n".join(stdout + stderr)
    assert any(c.method == "auth.test" for c in slack.workspace.calls), "the token was checked"


def test_socket_mode_says_so(tmp_path: Path, slack: SandboxServer) -> None:
    env = environment(slack, SLACK_APP_TOKEN=slack.workspace.identity.app_token,
                      DATABASE_URL=f"sqlite:///{tmp_path}/opsbot.db")
    del env["SLACK_SIGNING_SECRET"]
    code, stdout, stderr = serve(tmp_path, env, "--socket-mode")
    [line] = stdout
    assert line == (f"opsbot: serving @opsbot of Sandbox over Socket Mode (health and webhooks on "
                    f"http://127.0.0.1:{env['PORT']}) · database sqlite:///{tmp_path}/opsbot.db · bundled pack")
    assert_only_our_logs(stderr)


def test_a_bad_token_is_refused_in_one_line_before_anything_else(tmp_path: Path, slack: SandboxServer) -> None:
    env = environment(slack, SLACK_BOT_TOKEN="xoxb-not-this-workspaces", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    code, stdout, stderr = serve(tmp_path, env)
    assert code == 2 and stdout == []
    assert stderr == [f"opsbot: Slack refused SLACK_BOT_TOKEN (invalid_auth from auth.test at {slack.api_url}): "
                      "check the bot token of the installed app"]
    assert not (tmp_path / "x.db").exists(), "nothing was set up with a token Slack refuses"


def test_slack_unreachable_at_start_is_one_line(tmp_path: Path, slack: SandboxServer) -> None:
    env = environment(slack, SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/",
                      DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    code, stdout, stderr = serve(tmp_path, env)
    assert code == 2 and stdout == [] and len(stderr) == 1, stderr
    assert stderr[0].startswith("opsbot: cannot check SLACK_BOT_TOKEN: Slack at http://127.0.0.1:")
    assert "Traceback" not in stderr[0]
