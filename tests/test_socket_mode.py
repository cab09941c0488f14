"""Socket Mode: the real `opsbot serve --socket-mode` process connects to the sandbox over a
WebSocket and runs incidents from envelopes, with no public URL and no signing secret."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.seed import default_workspace
from bot.sandbox.server import SandboxServer
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.socket_mode import NoConnection
from tests.support.bot import free_port
from tests.support.waiting import eventually


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(default_workspace()) as server:
        yield server


@pytest.fixture
def socket_bot(sandbox: SandboxServer, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    identity = sandbox.workspace.identity
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(SLACK_BOT_TOKEN=identity.token, SLACK_APP_TOKEN=identity.app_token, SLACK_API_URL=sandbox.api_url,
               DATABASE_URL=f"sqlite:///{tmp_path}/opsbot.db", PORT=str(port))
    log = (tmp_path / "bot.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--socket-mode", "--host", "127.0.0.1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: sandbox.sockets.connections > 0 or proc.poll() is not None, timeout=30,
                   what="the bot's Socket Mode connection")
        assert proc.poll() is None, (tmp_path / "bot.log").read_text()[-2000:]
        eventually(lambda: _up(url), timeout=10, what="the health endpoint")
        yield url, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_incident_over_socket_mode(sandbox: SandboxServer, socket_bot: tuple[str, subprocess.Popen]) -> None:
    url, _ = socket_bot
    slack = SlackSimulator(url, "", sandbox, transport="socket")
    declared = slack.command("U0ALICE", "C0GENERAL", "/incident", "declare P1 Checkout is failing")
    assert declared.status == 200 and "Declaring INC-0001" in declared.body

    def ready() -> str | None:
        channel = next((c for c in sandbox.workspace.channels if c.name.startswith("incident-2")), None)
        return channel.id if channel and sandbox.workspace.pinned_messages(channel.id) else None

    channel_id = eventually(ready, timeout=20, what="the incident channel")
    [brief] = sandbox.workspace.pinned_messages(channel_id)
    clicked = slack.click("U0BOB", channel_id, brief.ts, "incident_claim_role", value="1:incident_commander")
    assert clicked.status == 200
    eventually(lambda: "<@U0BOB>" in str(sandbox.workspace.pinned_messages(channel_id)[0].blocks), timeout=20,
               what="the claimed role in the brief")
    assert "/incident declare" in slack.command("U0KIM", "C0GENERAL", "/incident", "help").body


def test_socket_mode_serves_no_unsigned_http_endpoint(socket_bot: tuple[str, subprocess.Popen]) -> None:
    url, _ = socket_bot
    response = httpx.post(f"{url}/slack/events", data={"command": "/incident", "text": "declare P1 x"})
    assert response.status_code == 404


def test_connections_open_wants_the_app_token(sandbox: SandboxServer) -> None:
    identity = sandbox.workspace.identity
    for token, error in [(identity.token, "not_allowed_token_type"), ("xapp-1-wrong", "invalid_auth")]:
        with pytest.raises(SlackApiError) as raised:
            WebClient(token=token, base_url=sandbox.api_url).apps_connections_open(app_token=token)
        assert raised.value.response["error"] == error
    url = WebClient(base_url=sandbox.api_url).apps_connections_open(app_token=identity.app_token)["url"]
    assert url.startswith(sandbox.base_url.replace("http://", "ws://") + "/_sandbox/socket?ticket=")

    async def connect_twice() -> tuple[dict, int]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url) as ws:
                hello = await ws.receive_json()
            try:
                await session.ws_connect(url)
            except aiohttp.WSServerHandshakeError as refused:
                return hello, refused.status
            return hello, 101

    hello, second = asyncio.run(connect_twice())
    assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == identity.app_id
    assert second == 401  # a ticket is good for one connection


def test_an_envelope_with_no_connection_fails_clearly(sandbox: SandboxServer) -> None:
    slack = SlackSimulator("http://127.0.0.1:1", "", sandbox, transport="socket")
    with pytest.raises(NoConnection):
        slack.command("U0ALICE", "C0GENERAL", "/incident", "help")
