"""Socket Mode: the real `opsbot serve --socket-mode` process connects to the sandbox over a
WebSocket and runs incidents from envelopes, with no public URL and no signing secret."""

from __future__ import annotations

import asyncio
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
from tests.support.process import bot_process
from tests.support.waiting import eventually


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(default_workspace()) as server:
        yield server


@pytest.fixture
def socket_bot(sandbox: SandboxServer, tmp_path: Path) -> Iterator[str]:
    with bot_process(sandbox, f"sqlite:///{tmp_path}/opsbot.db", tmp_path / "bot.log", socket_mode=True) as url:
        yield url


def test_incident_over_socket_mode(sandbox: SandboxServer, socket_bot: str) -> None:
    url = socket_bot
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


def test_socket_mode_serves_no_unsigned_http_endpoint(socket_bot: str) -> None:
    url = socket_bot
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
