"""Nothing a run starts outlives it, and a shutdown loses nothing: the real `opsbot serve` process
against the sandbox Slack, a run whose command has a child of its own, and the bot ended with
SIGTERM (a clean shutdown within Docker's 10 s) or SIGKILL (a crash, found at the next start)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
from slack_sdk.signature import SignatureVerifier
from sqlmodel import Session, select

from bot.executor import processes
from bot.identity import Identity
from bot.sandbox.server import SandboxServer
from bot.sandbox.simulator import SlackSimulator
from storage.db import make_engine
from storage.models import OutboundMessage
from storage.runs import Run, RunProcess
from tests.support.process import start_bot_process
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")

PLATFORM = "C0PLATFORM"
LONG = """
demo.long:
  description: A long job whose process has a child of its own
  operation: command
  argv: [sh, -c, "sleep 600 & wait"]
  risk: low
  timeout: 30m
"""


@pytest.fixture
def bot_env(tmp_path: Path) -> dict[str, str]:
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "actions.yaml").write_text(LONG)
    (pack / "schedules.yaml").write_text("{}\n")
    return {"OPSBOT_PLAYBOOKS": str(pack), "OPSBOT_TICK_SECONDS": "0.2"}


def start(sandbox: SandboxServer, tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    return start_bot_process(sandbox, f"sqlite:///{tmp_path}/opsbot.db", tmp_path / "bot.log", extra_env=env)


def read(tmp_path: Path, query):  # noqa: ANN001, ANN201  (a select, its rows)
    engine = make_engine(f"sqlite:///{tmp_path}/opsbot.db")
    try:
        with Session(engine) as session:
            return list(session.exec(query).all())
    finally:
        engine.dispose()


def start_long_run(sandbox: SandboxServer, url: str, tmp_path: Path) -> tuple[int, Identity, list[int]]:
    """``/ops run demo.long``; returns the run, its recorded process and the group's two members."""
    simulator = SlackSimulator(url, sandbox.workspace.identity.signing_secret, sandbox)
    assert simulator.command("U0ALICE", PLATFORM, "/ops", "run demo.long").status == 200
    [row] = eventually(lambda: read(tmp_path, select(RunProcess)), timeout=20, what="the run's process recorded")
    leader = Identity(row.machine, row.pid, row.start)
    assert leader.alive() and row.command == "sh -c 'sleep 600 & wait'"
    members = eventually(lambda: len(found := processes.group_members(row.pid)) == 2 and found, timeout=10,
                         what="the shell and its child sleep")
    return row.run_id, leader, members


def thread_texts(sandbox: SandboxServer) -> list[str]:
    return [m.text for m in sandbox.workspace.messages(PLATFORM)]


def _signed_command(sandbox: SandboxServer, port: int) -> tuple[bytes, bytes]:
    """A signed ``/ops list`` as raw HTTP: the head and the body, to send apart."""
    identity = sandbox.workspace.identity
    body = urllib.parse.urlencode({
        "token": identity.verification_token, "team_id": identity.team_id, "channel_id": PLATFORM,
        "channel_name": "platform-ops", "user_id": "U0ALICE", "user_name": "alice", "command": "/ops",
        "text": "list", "api_app_id": identity.app_id, "response_url": sandbox.workspace.mint_response_url(
            PLATFORM, "U0ALICE"), "trigger_id": sandbox.workspace.mint_trigger_id("U0ALICE")}).encode()
    ts = str(int(time.time()))
    signature = SignatureVerifier(identity.signing_secret).generate_signature(timestamp=ts, body=body)
    head = (f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded"
            f"\r\nContent-Length: {len(body)}\r\nX-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {signature}"
            "\r\nConnection: close\r\n\r\n").encode()
    return head, body


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def run_by_id(tmp_path: Path, run_id: int) -> Run:
    [found] = read(tmp_path, select(Run).where(Run.id == run_id))
    return found


def test_no_run_process_outlives_the_bot_whether_it_is_killed_or_stopped(
        sandbox: SandboxServer, tmp_path: Path, bot_env: dict[str, str]) -> None:
    """SIGKILL: the run's processes live on, and the next start stops them and says so in the thread.
    SIGTERM: the ack in flight finishes, no new connection is taken, the run's process group is
    stopped and the run recorded as interrupted, its Slack calls stay queued, exit 0 within 10 s."""
    bot, url = start(sandbox, tmp_path, bot_env)
    try:
        killed, leader, members = start_long_run(sandbox, url, tmp_path)
    finally:
        bot.kill()
        bot.wait()
    time.sleep(0.5)
    assert processes.group_members(leader.pid) == members, "a SIGKILL of the bot leaves its run's processes running"

    bot, url = start(sandbox, tmp_path, bot_env)
    port = int(url.rsplit(":", 1)[1])
    try:
        done = eventually(lambda: (r := run_by_id(tmp_path, killed)).status == "failed" and r, timeout=20,
                          what="the killed bot's run recorded as interrupted")
        assert done.outcome.startswith("Interrupted: the bot process running it stopped (killed or crashed), and "
                                       "the bot found this when it started again. It stopped what the run had left "
                                       "running: `sh -c 'sleep 600 & wait'`.")
        assert processes.group_members(leader.pid) == [], "the shell and its child are stopped"
        assert read(tmp_path, select(RunProcess)) == []
        eventually(lambda: any(t.startswith(f"❌ Run #{killed} `demo.long` failed") for t in thread_texts(sandbox)),
                   timeout=20, what="the outcome in the run's thread")

        stopped, leader, _ = start_long_run(sandbox, url, tmp_path)
        head, body = _signed_command(sandbox, port)
        in_flight = socket.create_connection(("127.0.0.1", port), timeout=10)
        in_flight.sendall(head + body[:-8])  # a request the bot has begun to read
        time.sleep(0.3)
        stopping = time.monotonic()
        bot.send_signal(signal.SIGTERM)
        eventually(lambda: _refused(port), timeout=3, what="no new connections")
        in_flight.sendall(body[-8:])
        reply = in_flight.makefile("rb").read()
        in_flight.close()
        code = bot.wait(timeout=15)
        took = time.monotonic() - stopping
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert b"demo.long" in reply, "the ack of the request in flight is the answer to it"
    assert code == 0, (tmp_path / "bot.log").read_text()[-3000:]
    assert took < 10, f"shut down in {took:.1f} s"
    print(f"SIGTERM to exit: {took:.2f} s")
    assert processes.group_members(leader.pid) == [], "the run's shell and its child are stopped"
    done = run_by_id(tmp_path, stopped)
    assert done.status == "failed" and done.outcome.startswith("Interrupted: the bot was shut down (SIGTERM)")
    assert read(tmp_path, select(RunProcess)) == []
    queued = [m for m in read(tmp_path, select(OutboundMessage)) if m.state == "pending"]
    assert any("Interrupted: the bot was shut down" in m.args for m in queued), \
        "the outcome stays queued for the next start (which delivers what is pending: tests/test_restart.py)"
    assert not any(f"#{stopped}" in t and "failed" in t for t in thread_texts(sandbox)), "nothing sent on the way out"
