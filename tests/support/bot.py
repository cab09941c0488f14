"""The bot under test: the real ASGI server on 127.0.0.1 talking to the sandbox Slack server.

The scheduler does not run on its own here; tests move the injected clock and call ``tick()``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.app import create_asgi_app, create_bolt_app
from bot.clock import Clock
from bot.runtime import Runtime, build_runtime
from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.sandbox.services.process import free_port
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.workspace import Workspace
from bot.settings import load_settings
from storage.models import OutboundMessage
from tests.support.waiting import eventually


def bot_env(sandbox: SandboxServer, database_url: str, playbooks: Path | None = None) -> dict[str, str]:
    identity = sandbox.workspace.identity
    env = {"SLACK_BOT_TOKEN": identity.token, "SLACK_SIGNING_SECRET": identity.signing_secret,
           "SLACK_API_URL": sandbox.api_url, "DATABASE_URL": database_url, "PORT": str(free_port())}
    if playbooks:
        env["OPSBOT_PLAYBOOKS"] = str(playbooks)
    return env


class BotUnderTest:
    def __init__(self, rt: Runtime, sandbox: SandboxServer, port: int) -> None:
        self.rt = rt
        self.sandbox = sandbox
        self.url = f"http://127.0.0.1:{port}"
        self.slack = SlackSimulator(self.url, sandbox.workspace.identity.signing_secret, sandbox)
        self.clock = rt.clock

    @property
    def workspace(self) -> Workspace:
        return self.sandbox.workspace

    @property
    def engine(self) -> Engine:
        """The bot's database, for reading what it stored."""
        return self.rt.engine

    def tick(self) -> None:
        self.rt.tick()

    def declare(self, text: str = "declare P1 Checkout is failing", user: str = "U0ALICE",
                channel: str = "C0GENERAL") -> str:
        """Declare through the slash command and wait for the ready channel; returns its ID."""
        before = {c.id for c in self.workspace.channels}
        response = self.slack.command(user, channel, "/incident", text)
        assert response.status == 200, response.body

        def ready() -> str | None:
            for c in self.workspace.channels:
                if c.id not in before and c.name.startswith("incident-") and self.workspace.pinned_messages(c.id):
                    return c.id
            return None

        channel_id = eventually(ready, what="a ready incident channel")
        self.settle()
        return channel_id

    def settle(self) -> None:
        """Deliver what is due, and wait for deliveries already in flight in the bot's pool."""
        def quiet() -> bool:
            """Nothing in flight, and nothing due that could go now (a call behind an earlier one of
            its channel that waits out a backoff waits with it: bot.slack.outbox keeps the order)."""
            self.rt.delivery.deliver_due()
            now = self.clock()
            with Session(self.rt.engine) as session:
                rows = session.exec(select(OutboundMessage).where(
                    (OutboundMessage.state == "sending") | (OutboundMessage.state == "pending"))).all()
            backing_off: dict[str, int] = {}
            for row in rows:
                if row.state == "pending" and row.next_attempt_at > now and row.id is not None:
                    backing_off[row.channel] = min(row.id, backing_off.get(row.channel, row.id))
            return not any(row.state == "sending" or (row.next_attempt_at <= now and row.id is not None
                                                      and row.id < backing_off.get(row.channel, row.id + 1))
                           for row in rows)

        eventually(quiet, what="queued Slack calls to be delivered")

    def texts(self, channel_id: str) -> list[str]:
        return [m.text for m in self.workspace.messages(channel_id)]


@contextmanager
def running_bot(tmp_path: Path, database_url: str, clock: Clock, *, playbooks: Path | None = None,
                workspace: Workspace | None = None, env: dict[str, str] | None = None) -> Iterator[BotUnderTest]:
    sandbox = SandboxServer(workspace or default_workspace())
    sandbox.start()
    # The port is bound here and the socket handed to uvicorn: a port only picked as free could be
    # taken by another test's server before uvicorn binds it (the machine is shared).
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    env = {**bot_env(sandbox, database_url, playbooks), "PORT": str(port), **(env or {})}
    rt = build_runtime(load_settings(env), clock=clock)
    app = create_asgi_app(rt, bolt=create_bolt_app(rt), scheduler=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    eventually(lambda: _healthy(port), what="the bot to listen")
    try:
        yield BotUnderTest(rt, sandbox, port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        rt.close()
        listening.close()
        sandbox.stop()


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
