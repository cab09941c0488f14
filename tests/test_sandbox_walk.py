"""`opsbot sandbox` touches nothing it did not create: the real process (under strace, following every
process it starts) walked through a backup, a restore test, an approved restore and maintenance mode on
and off with signed requests as Slack sends them, then checked for every connection it made and every
file it changed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bot.executor import views
from bot.sandbox import elements
from bot.sandbox.models import Message
from bot.sandbox.remote import RemoteSandbox
from bot.sandbox.services.process import free_port
from bot.sandbox.simulator import SlackSimulator
from tests.support.syscalls import Trace, strace_argv
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")

PLATFORM = "C0PLATFORM"
HOST_SERVICES = (5432, 6379)  # the machine's own PostgreSQL and Redis
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::")
HOST_PATHS = (  # what the bundled pack would touch
    "/etc/nginx/sites-enabled/default", "/etc/nginx/maintenance.conf", "/etc/nginx/production.conf",
    "/var/www/maintenance/maintenance.html", "/opt/ytempire/.maintenance", "/opt/ytempire/.env",
)


@dataclass
class Sandbox:
    folder: Path
    slack: SlackSimulator
    remote: RemoteSandbox
    proc: subprocess.Popen[bytes]
    output: Path

    def messages(self) -> list[Message]:
        return self.remote.workspace.messages(PLATFORM)

    def command(self, user: str, command: str, text: str) -> str:
        """The command's ack, as the user reads it."""
        response = self.slack.command(user, PLATFORM, command, text)
        assert response.status == 200 and response.acked_in_time, response.body
        return str((response.json or {}).get("text", response.body))

    def request(self, user: str, command: str, text: str) -> int:
        answer = self.command(user, command, text)
        found = re.search(r"[Rr]un #(\d+)", answer)
        assert found, answer
        return int(found[1])

    def approve(self, user: str, run_id: int) -> None:
        def prompt() -> Message | None:
            for message in self.messages():
                for button in elements.buttons(message.blocks):
                    if button.action_id == views.APPROVE and button.value == str(run_id):
                        return message
            return None

        message = eventually(prompt, timeout=30, what=f"run #{run_id}'s approval prompt")
        response = self.slack.click(user, PLATFORM, message.ts, views.APPROVE, value=str(run_id))
        assert response.status == 200 and response.acked_in_time, response.body

    def outcome(self, run_id: int, timeout: float = 120) -> str:
        """The run's summary in its thread, once it has finished (text and blocks)."""
        finished = re.compile(rf"Run #{run_id} `[a-z_.]+` (succeeded|failed|cancelled)")

        def summary() -> str | None:
            for message in self.messages():
                if finished.search(message.text):
                    return message.text + "\n" + json.dumps(message.blocks, ensure_ascii=False)
            return None

        return eventually(summary, timeout=timeout, interval=0.3, what=f"run #{run_id} to finish")


def _tree_hash(root: str) -> str:
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder, name)
            digest.update(str(path).encode())
            try:
                digest.update(path.read_bytes())
            except OSError as exc:
                digest.update(str(exc).encode())
    return digest.hexdigest()


def _host_state() -> dict[str, object]:
    state: dict[str, object] = {"/etc/nginx": _tree_hash("/etc/nginx")}
    for path in HOST_PATHS:
        try:
            state[path] = Path(path).stat().st_mtime_ns
        except OSError:
            state[path] = "absent"
    return state


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    folder, output, log = tmp_path / "opsbot-sandbox", tmp_path / "sandbox.out", tmp_path / "strace.log"
    bot_port, slack_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_URL"))}
    env["PORT"] = str(bot_port)
    with output.open("wb") as out:
        proc = subprocess.Popen([*strace_argv(log), sys.executable, "-m", "bot.cli", "sandbox", "--no-console",
                                 "--folder", str(folder), "--sandbox-port", str(slack_port)],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    remote = RemoteSandbox(f"http://127.0.0.1:{slack_port}")
    bot_url = f"http://127.0.0.1:{bot_port}"

    def up() -> bool:
        assert proc.poll() is None, output.read_text()[-3000:]
        return _answers(f"{bot_url}/healthz") and _answers(f"{remote.base_url}/_sandbox/state")

    try:
        eventually(up, timeout=180, interval=0.2, what="the sandbox to serve the bot and Slack")
        slack = SlackSimulator(bot_url, remote.workspace.identity.signing_secret, remote)
        yield Sandbox(folder, slack, remote, proc, output)
    finally:
        if proc.poll() is None:
            _signal_traced(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _signal_traced(strace: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the process strace started (strace itself would only detach)."""
    children = Path(f"/proc/{strace.pid}/task/{strace.pid}/children").read_text().split()
    for child in children:
        os.kill(int(child), sig)


@pytest.mark.timeout(600)
def test_the_sandbox_walk_touches_nothing_it_did_not_create(sandbox: Sandbox, tmp_path: Path) -> None:
    before = _host_state()
    pack = sandbox.folder / "pack"
    maintenance = yaml.safe_load((pack / "maintenance.yaml").read_text())
    backups = yaml.safe_load((pack / "backups.yaml").read_text())
    site = maintenance["probe"]["url"]
    assert _get(site)[0] == 200 and "150 orders" in _get(site)[2], "the demo shop is served with its numbers"

    run = sandbox.request("U0ALICE", "/backup", "run")
    made = sandbox.outcome(run)
    assert "succeeded" in made, made
    backup_id = re.search(r"backup: (\d{8}T\d{6}Z-full)", made)[1]  # type: ignore[index]
    assert (sandbox.folder / "backups" / backup_id / "checksums.txt").is_file()

    tested = sandbox.outcome(sandbox.request("U0ALICE", "/backup", "restore-test"))
    assert "identical: 3 tables, 202 rows" in tested, tested

    restore = sandbox.request("U0ALICE", "/backup", f"restore {backup_id}")
    sandbox.approve("U0BOB", restore)   # Platform Ops Lead
    sandbox.approve("U0DAVE", restore)  # Team Lead: the second approval of a critical action
    restored = sandbox.outcome(restore)
    assert "succeeded" in restored and "SELECT COUNT(*) FROM orders → 150" in restored, restored
    assert (sandbox.folder / "restored-files").is_dir()

    enable = sandbox.request("U0ALICE", "/maintenance", "enable Database upgrade 30m")
    sandbox.approve("U0BOB", enable)
    enabled = sandbox.outcome(enable)
    assert "succeeded" in enabled, enabled
    status, headers, body = _get(site)
    assert status == 503 and headers.get("Retry-After") and "Database upgrade" in body
    assert (sandbox.folder / "app" / ".maintenance").is_file()

    disable = sandbox.request("U0ALICE", "/maintenance", "disable")
    sandbox.approve("U0BOB", disable)
    assert "succeeded" in sandbox.outcome(disable)
    assert _get(site)[0] == 200 and not (sandbox.folder / "app" / ".maintenance").exists()

    assert "`rollback` is unavailable here: it needs a Docker Engine" in sandbox.command("U0ALICE", "/rollback", "")

    _signal_traced(sandbox.proc, signal.SIGTERM)
    sandbox.proc.wait(timeout=60)  # strace ends once every process it followed has ended
    output = sandbox.output.read_text()
    assert "Sandbox stopped" in output, output[-3000:]
    for url in (site, f"http://127.0.0.1:{backups['database']['port']}"):
        assert not _answers(url), f"{url} still answers after the sandbox stopped"

    trace = Trace.read(tmp_path / "strace.log")
    host = [c for c in trace.connects_to_port(*HOST_SERVICES) if c[0] in LOOPBACK]
    assert host == [], f"connected to the machine's own PostgreSQL or Redis: {host}"
    redis_port = int(re.search(r":(\d+)/", maintenance["queue"]["redis_url"])[1])  # type: ignore[index]
    reached = {port for _, port in trace.tcp_connects}
    assert {backups["database"]["port"], redis_port} <= reached, "the check sees the sandbox's own connections"
    postgres = re.search(r"data in (\S+)", output)[1]  # type: ignore[index]  # /tmp when postgres cannot reach
    own = (str(sandbox.folder) + "/", postgres + "/")
    host_sockets = [p for p in trace.unix_connects
                    if not p.startswith(own) and (".s.PGSQL." in p or "redis" in p or "docker" in p)]
    assert host_sockets == [], f"connected to a host service's unix socket: {host_sockets}"

    # libuuid keeps its clock sequence there: uuid.getnode(), which kombu calls to name a Celery
    # mailbox, tries it (and fails here: no such folder); it is no service's data or configuration.
    libuuid = "/var/lib/libuuid/clock.txt"
    assert [p for p in trace.writes_under("/etc", "/opt", "/var", attempts=True) if p != libuuid] == []
    assert not any(p.startswith("?/") for p in trace.writes | trace.attempts), "every path was resolved"
    shared_memory = "/dev/shm/PostgreSQL."
    outside = sorted(p for p in trace.writes - {"/dev/null", postgres, str(sandbox.folder)}
                     if not p.startswith((*own, shared_memory)))
    assert outside == [], f"written outside the sandbox folder: {outside}"
    assert any(p.startswith(str(sandbox.folder / "backups")) for p in trace.writes), "the check sees its writes"
    assert _host_state() == before
