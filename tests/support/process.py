"""`opsbot serve` as a real process against the sandbox, for crash, replica and Socket Mode tests
and for benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.request import urlopen

from bot.sandbox.server import SandboxServer
from tests.support.bot import bot_env
from tests.support.waiting import eventually


@contextmanager
def bot_process(sandbox: SandboxServer, database_url: str, log: Path, *, socket_mode: bool = False,
                extra_env: dict[str, str] | None = None, stop: signal.Signals = signal.SIGTERM) -> Iterator[str]:
    """Start the bot, wait until it answers /healthz (and, in Socket Mode, has connected), yield its URL.

    ``stop`` is how it ends: SIGTERM for a clean shutdown, SIGKILL for a crash.
    """
    proc, url = start_bot_process(sandbox, database_url, log, socket_mode=socket_mode, extra_env=extra_env)
    try:
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(stop)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_bot_process(sandbox: SandboxServer, database_url: str, log: Path, *, socket_mode: bool = False,
                      extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``opsbot serve`` started and answering /healthz (and, in Socket Mode, connected): the process
    and its URL. The caller ends it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPSBOT_", "DATABASE_URL"))}
    env.update(bot_env(sandbox, database_url), **(extra_env or {}))
    args = ["serve", "--host", "127.0.0.1"]
    if socket_mode:
        env["SLACK_APP_TOKEN"] = sandbox.workspace.identity.app_token
        del env["SLACK_SIGNING_SECRET"]
        args.append("--socket-mode")
    url = f"http://127.0.0.1:{env['PORT']}"
    connections = sandbox.sockets.connections
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def started() -> bool:
        connected = not socket_mode or sandbox.sockets.connections > connections
        return proc.poll() is not None or (connected and _healthy(url))

    try:
        eventually(started, timeout=30, what="the bot process")
        assert proc.poll() is None, log.read_text()[-2000:]
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, url


def _healthy(url: str) -> bool:
    try:
        with urlopen(f"{url}/healthz", timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False
