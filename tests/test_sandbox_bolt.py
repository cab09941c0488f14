"""A real Bolt AsyncApp against the sandbox: the simulator's requests pass Bolt's verification and parsing,
and Bolt's clients (Web API, respond) land in the workspace. Proves the sandbox speaks Slack, not itself."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox import SandboxServer, SlackSimulator
from tests.support.modals import modal
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("integration")

TOKEN = "xoxb-sandbox-token"
SECRET = "sandbox-signing-secret"

MODAL = modal()


def build_app(api_url: str) -> AsyncApp:
    app = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=api_url))

    @app.command("/incident")
    async def declare(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack("Opening the form…")
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("declare")
    async def submitted(ack: Any, view: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        title = view["state"]["values"]["title"]["value"]["value"]
        if len(title) < 4:
            await ack(response_action="errors", errors={"title": "Say what broke"})
            return
        await ack()
        channel = (await client.conversations_create(name="inc-1"))["channel"]["id"]
        await client.conversations_invite(channel=channel, users=[body["user"]["id"]])
        await client.chat_postMessage(
            channel=channel,
            text=title,
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}},
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "action_id": "claim", "text": {"type": "plain_text", "text": "Claim IC"}}
                    ],
                },
            ],
        )

    @app.action("claim")
    async def claim(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        await respond(replace_original=True, text=f"IC: <@{body['user']['id']}>")

    return app


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


@pytest.fixture
def bolt_url(server: SandboxServer) -> Iterator[str]:
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(build_app(server.api_url).web_app())
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.run_until_complete(runner.cleanup())
    loop.close()


def test_bolt_round_trip(server: SandboxServer, bolt_url: str) -> None:
    slack = SlackSimulator(bolt_url, SECRET, server)
    workspace = server.workspace

    assert slack.command("U0ALICE", "C0INCIDENTS", "/incident", "", timestamp=1531420618).status == 401
    answer = slack.command("U0ALICE", "C0INCIDENTS", "/incident", "")
    assert answer.acked_in_time
    assert [e.text for e in workspace.ephemerals("U0ALICE")] == ["Opening the form…"]
    [view] = workspace.open_views("U0ALICE")

    refused = slack.submit_view("U0ALICE", view.id, {"title": {"value": "db"}})
    assert refused.json == {"response_action": "errors", "errors": {"title": "Say what broke"}}
    slack.submit_view("U0ALICE", view.id, {"title": {"value": "Database down"}})
    assert workspace.open_views("U0ALICE") == []

    # Bolt acknowledges first and does the work after it: wait for the work, not for a time
    channel = eventually(lambda: (found := workspace.channel_by_name("inc-1")) and workspace.messages(found.id)
                         and found, what="the channel and its message")
    assert channel.members == {"U0OPSBOT", "U0ALICE"}
    [message] = workspace.messages(channel.id)
    slack.click("U0KIM", channel.id, message.ts, "claim")
    eventually(lambda: workspace.messages(channel.id)[0].text == "IC: <@U0KIM>", what="the replaced message")
    assert [c.method for c in workspace.calls if c.method != "auth.test"] == [
        "views.open",
        "conversations.create",
        "conversations.invite",
        "chat.postMessage",
    ]
