"""Socket Mode: the real `opsbot serve --socket-mode` process connects to the sandbox over a
WebSocket and runs incidents from envelopes, with no public URL and no signing secret; and the
sandbox's side of the protocol, checked with a scripted app that knows only the wire format."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.server import SandboxServer
from bot.sandbox.simulator import SlackSimulator
from bot.sandbox.socket_mode import MAX_CONNECTIONS, NoConnection
from tests.support.modals import modal
from tests.support.process import bot_process
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")

Reply = Callable[[dict[str, Any]], dict[str, Any] | None]


@pytest.fixture
def socket_bot(sandbox: SandboxServer, tmp_path: Path) -> Iterator[str]:
    with bot_process(sandbox, f"sqlite:///{tmp_path}/opsbot.db", tmp_path / "bot.log", socket_mode=True) as url:
        yield url


def over_socket(sandbox: SandboxServer) -> SlackSimulator:
    return SlackSimulator("", "", sandbox, transport="socket")  # no bot URL, no signing secret


def incident_channel(sandbox: SandboxServer) -> str | None:
    channel = next((c for c in sandbox.workspace.channels if c.name.startswith("incident-2")), None)
    return channel.id if channel and sandbox.workspace.pinned_messages(channel.id) else None


# The bot, over the socket


def test_incident_over_socket_mode(sandbox: SandboxServer, socket_bot: str) -> None:
    slack = over_socket(sandbox)
    declared = slack.command("U0ALICE", "C0GENERAL", "/incident", "declare P1 Checkout is failing")
    assert declared.acked_in_time and "Declaring INC-0001" in declared.body
    # the ack is shown to Alice as in HTTP mode: an ephemeral message in the channel she typed in
    assert any("Declaring INC-0001" in e.text for e in sandbox.workspace.ephemerals("U0ALICE", "C0GENERAL"))

    channel_id = eventually(lambda: incident_channel(sandbox), timeout=20, what="the incident channel")
    [brief] = sandbox.workspace.pinned_messages(channel_id)
    clicked = slack.click("U0BOB", channel_id, brief.ts, "incident_claim_role", value="1:incident_commander")
    assert clicked.acked_in_time
    eventually(lambda: "<@U0BOB>" in str(sandbox.workspace.pinned_messages(channel_id)[0].blocks), timeout=20,
               what="the claimed role in the brief")
    assert "/incident declare" in slack.command("U0KIM", "C0GENERAL", "/incident", "help").body


def test_modal_declaration_over_socket_mode(sandbox: SandboxServer, socket_bot: str) -> None:
    slack = over_socket(sandbox)
    assert slack.command("U0ALICE", "C0GENERAL", "/incident", "").acked_in_time
    view = eventually(lambda: sandbox.workspace.open_views("U0ALICE"), what="the modal")[-1]
    bad = slack.submit_view("U0ALICE", view.id, {"title": {"value": "   "}, "severity": {"value": "P2"}})
    assert bad.json and bad.json["response_action"] == "errors"
    assert not sandbox.workspace.view(view.id).closed  # the errors ack kept the modal open, as Slack does
    slack.submit_view("U0ALICE", view.id, {"title": {"value": "Search is down"}, "severity": {"value": "P2"}})
    assert sandbox.workspace.view(view.id).closed
    eventually(lambda: incident_channel(sandbox), timeout=20, what="the incident channel")


def test_the_bot_reconnects_when_slack_refreshes_its_connection(sandbox: SandboxServer, socket_bot: str) -> None:
    sandbox.sockets.disconnect("refresh_requested")
    eventually(lambda: sandbox.sockets.opened == 2 and sandbox.sockets.connections == 1, timeout=20,
               what="a new connection in place of the old one")
    assert len(sandbox.workspace.calls_to("apps.connections.open")) == 2  # a fresh URL for each connection
    assert "/incident declare" in over_socket(sandbox).command("U0KIM", "C0GENERAL", "/incident", "help").body


def test_socket_mode_serves_no_unsigned_http_endpoint(socket_bot: str) -> None:
    url = socket_bot
    response = httpx.post(f"{url}/slack/events", data={"command": "/incident", "text": "declare P1 x"})
    assert response.status_code == 404


# The sandbox's side of the protocol


class ScriptedApp:
    """A Socket Mode app on its own thread: opens a connection as the SDK does, keeps every message
    Slack sends, and acks each envelope with ``reply(envelope)`` (None: never acks)."""

    def __init__(self, sandbox: SandboxServer, reply: Reply) -> None:
        self.reply = reply
        self.messages: list[dict[str, Any]] = []
        app_token = sandbox.workspace.identity.app_token
        url = WebClient(base_url=sandbox.api_url).apps_connections_open(app_token=app_token)["url"]
        self._loop = asyncio.new_event_loop()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        greeted = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(url, greeted),),
                                        daemon=True)
        self._thread.start()
        assert greeted.wait(5), "no first message from the sandbox"

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if "envelope_id" in m]

    async def _run(self, url: str, greeted: threading.Event) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            self._ws = ws
            async for frame in ws:
                message = json.loads(frame.data)
                self.messages.append(message)
                greeted.set()
                answer = self.reply(message) if "envelope_id" in message else None
                if answer is not None:
                    await ws.send_json({"envelope_id": message["envelope_id"], "payload": answer})

    def close(self) -> None:
        if self._thread.is_alive() and self._ws is not None:  # not yet closed by the sandbox
            asyncio.run_coroutine_threadsafe(self._ws.close(), self._loop).result(5)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture
def apps(sandbox: SandboxServer) -> Iterator[Callable[[Reply], ScriptedApp]]:
    started: list[ScriptedApp] = []

    def start(reply: Reply) -> ScriptedApp:
        started.append(ScriptedApp(sandbox, reply))
        return started[-1]

    yield start
    for app in started:
        app.close()


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


def test_each_envelope_goes_to_one_connection_and_its_ack_acts_as_in_http_mode(
    sandbox: SandboxServer, apps: Callable[[Reply], ScriptedApp]
) -> None:
    first, second = apps(lambda _: {"text": "from the first"}), apps(lambda _: {"text": "from the second"})
    assert [app.messages[0]["num_connections"] for app in (first, second)] == [1, 2]
    slack = over_socket(sandbox)
    answers = {slack.command("U0BOB", "C0PLATFORM", "/incident", "help").json["text"] for _ in range(2)}
    assert answers == {"from the first", "from the second"}
    assert len(first.envelopes) == len(second.envelopes) == 1
    [envelope] = first.envelopes
    assert (envelope["type"], envelope["accepts_response_payload"], envelope["retry_attempt"]) == (
        "slash_commands", True, 0)
    assert envelope["payload"]["command"] == "/incident" and envelope["payload"]["trigger_id"]
    shown = {e.text for e in sandbox.workspace.ephemerals("U0BOB", "C0PLATFORM")}
    assert shown == {"from the first", "from the second"}


def test_interactions_and_events_travel_as_envelopes(
    sandbox: SandboxServer, apps: Callable[[Reply], ScriptedApp]
) -> None:
    def reply(envelope: dict[str, Any]) -> dict[str, Any]:
        if envelope["payload"].get("type") == "view_submission":
            return {"response_action": "errors", "errors": {"title": "Too vague"}}
        return {}

    app = apps(reply)
    slack = over_socket(sandbox)
    client = WebClient(base_url=sandbox.api_url, token=sandbox.workspace.identity.token)
    trigger = sandbox.workspace.mint_trigger_id("U0ALICE")
    view_id = client.views_open(trigger_id=trigger, view=modal())["view"]["id"]
    submitted = slack.submit_view("U0ALICE", view_id, {"title": {"value": "db"}})
    assert submitted.acked_in_time and not sandbox.workspace.view(view_id).closed

    button = {"type": "button", "action_id": "ack", "value": "1", "text": {"type": "plain_text", "text": "Ack"}}
    ts = client.chat_postMessage(channel="C0GENERAL", text="INC-1", blocks=[
        {"type": "actions", "elements": [button]}])["ts"]
    assert slack.click("U0ALICE", "C0GENERAL", ts, "ack").acked_in_time
    assert slack.post_event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}, retry_num=1).status == 200

    summary = [(e["type"], e["payload"]["type"], e["accepts_response_payload"], e["retry_attempt"], e["retry_reason"])
               for e in app.envelopes]
    assert summary == [("interactive", "view_submission", True, 0, ""),
                       ("interactive", "block_actions", False, 0, ""),
                       ("events_api", "event_callback", False, 1, "http_timeout")]
    with pytest.raises(ValueError, match="not signed"):
        slack.command("U0ALICE", "C0GENERAL", "/incident", "help", signature="v0=forged")


def test_an_envelope_nobody_acks_times_out_as_slack_tells_the_user(
    sandbox: SandboxServer, apps: Callable[[Reply], ScriptedApp]
) -> None:
    apps(lambda _: None)
    answer = over_socket(sandbox).command("U0ALICE", "C0GENERAL", "/incident", "help")
    assert answer.status == 504 and not answer.acked_in_time and "operation_timeout" in answer.body
    assert sandbox.workspace.ephemerals("U0ALICE") == []


def test_an_envelope_with_no_connection_fails_clearly(sandbox: SandboxServer) -> None:
    with pytest.raises(NoConnection):
        over_socket(sandbox).command("U0ALICE", "C0GENERAL", "/incident", "help")


def test_connections_beyond_ten_are_turned_away(sandbox: SandboxServer,
                                                apps: Callable[[Reply], ScriptedApp]) -> None:
    for _ in range(MAX_CONNECTIONS):
        apps(lambda _: {})
    extra = apps(lambda _: {})
    assert extra.messages[0]["type"] == "disconnect" and extra.messages[0]["reason"] == "too_many_websockets"
    assert sandbox.sockets.connections == MAX_CONNECTIONS
