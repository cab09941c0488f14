"""Modals and trigger ids, fault injection honoured by slack_sdk's retry handlers, and the control endpoints."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.sandbox import SandboxServer, default_workspace
from tests.support.modals import modal

pytestmark = pytest.mark.kind("integration")

TOKEN = "xoxb-sandbox-token"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[SandboxServer]:
    with SandboxServer(default_workspace(clock=clock)) as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> WebClient:
    return WebClient(base_url=server.api_url, token=TOKEN)


def error_code(call: Callable[[], object]) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response["error"]


def test_views_open_consumes_a_fresh_trigger(client: WebClient, server: SandboxServer, clock: FakeClock) -> None:
    trigger = server.workspace.mint_trigger_id("U0ALICE")
    view = client.views_open(trigger_id=trigger, view=modal())["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "declare" and view["hash"]
    [stored] = server.workspace.open_views("U0ALICE")
    assert (stored.id, stored.trigger_id, stored.view["title"]["text"]) == (view["id"], trigger, "Declare incident")

    assert error_code(lambda: client.views_open(trigger_id=trigger, view=modal())) == "exchanged_trigger_id"

    late = server.workspace.mint_trigger_id("U0ALICE")
    clock.now += 3.01
    assert error_code(lambda: client.views_open(trigger_id=late, view=modal())) == "expired_trigger_id"
    assert error_code(lambda: client.views_open(trigger_id="1.2.3", view=modal())) == "invalid_trigger_id"


def test_view_validation(client: WebClient, server: SandboxServer) -> None:
    trigger = server.workspace.mint_trigger_id("U0ALICE")
    with pytest.raises(SlackApiError) as caught:
        client.views_open(trigger_id=trigger, view=modal(title="A title well over the limit"))
    assert caught.value.response["error"] == "invalid_arguments"
    assert "/view/title" in caught.value.response["response_metadata"]["messages"][0]
    # A refused view leaves the trigger unused.
    assert client.views_open(trigger_id=trigger, view=modal())["ok"]


def test_update_push_and_publish(client: WebClient, server: SandboxServer) -> None:
    root = client.views_open(trigger_id=server.workspace.mint_trigger_id("U0BOB"), view=modal())["view"]
    updated = client.views_update(view_id=root["id"], hash=root["hash"], view=modal(title="Step 2"))["view"]
    assert updated["title"]["text"] == "Step 2" and updated["hash"] != root["hash"]
    stale_hash = root["hash"]
    assert error_code(lambda: client.views_update(view_id=root["id"], hash=stale_hash, view=modal())) == "hash_conflict"
    assert error_code(lambda: client.views_update(view_id="V0NOPE", view=modal())) == "not_found"

    for _ in range(2):
        pushed = client.views_push(trigger_id=server.workspace.mint_trigger_id("U0BOB"), view=modal())["view"]
        assert pushed["root_view_id"] == root["id"]
    trigger = server.workspace.mint_trigger_id("U0BOB")
    assert error_code(lambda: client.views_push(trigger_id=trigger, view=modal())) == "push_limit_reached"

    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Open: 1"}}]}
    first = client.views_publish(user_id="U0BOB", view=home)["view"]
    again = client.views_publish(user_id="U0BOB", view=home)["view"]
    assert first["id"] == again["id"] and [v.type for v in server.workspace.views].count("home") == 1


def test_rate_limit_is_retried_by_slack_sdk(server: SandboxServer) -> None:
    server.workspace.fail_next("chat.postMessage", status=429, retry_after=0)
    client = WebClient(
        base_url=server.api_url, token=TOKEN, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]
    )
    assert client.chat_postMessage(channel="C0GENERAL", text="after a 429")["ok"]
    assert len(server.workspace.calls_to("chat.postMessage")) == 2
    assert [m.text for m in server.workspace.messages("C0GENERAL")] == ["after a 429"]


def test_rate_limit_without_a_retry_handler(server: SandboxServer) -> None:
    server.workspace.fail_next("conversations.create", retry_after=7)
    client = WebClient(base_url=server.api_url, token=TOKEN)
    with pytest.raises(SlackApiError) as caught:
        client.conversations_create(name="inc-1")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert caught.value.response["error"] == "ratelimited"
    assert client.conversations_create(name="inc-1")["ok"]  # only the next call failed


def test_server_errors_are_retried_by_slack_sdk(server: SandboxServer) -> None:
    server.workspace.fail_next("conversations.create", status=503, error="service_unavailable", count=2)
    handler = ServerErrorRetryHandler(max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01))
    client = WebClient(base_url=server.api_url, token=TOKEN, retry_handlers=[handler])
    assert client.conversations_create(name="inc-2")["ok"]
    assert len(server.workspace.calls_to("conversations.create")) == 3


def test_latency_is_added_to_every_call(client: WebClient, server: SandboxServer) -> None:
    server.workspace.latency_ms = 150
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.15


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        return reply.status, json.loads(reply.read())


def test_control_endpoints(client: WebClient, server: SandboxServer) -> None:
    base = server.base_url
    trigger = post(f"{base}/_sandbox/trigger", {"user_id": "U0CAROL"})[1]["trigger_id"]
    assert client.views_open(trigger_id=trigger, view=modal())["view"]

    post(f"{base}/_sandbox/fail", {"method": "auth.test", "status": 500, "error": "internal_error"})
    with pytest.raises(SlackApiError) as caught:
        client.auth_test()
    assert caught.value.response.status_code == 500

    post(f"{base}/_sandbox/latency", {"latency_ms": 5})
    assert server.workspace.latency_ms == 5

    response_url = post(f"{base}/_sandbox/response_url", {"channel_id": "C0GENERAL", "user_id": "U0DAVE"})[1]
    assert post(response_url["response_url"], {"text": "only you"}) == (200, {"ok": True})

    with urllib.request.urlopen(f"{base}/_sandbox/state", timeout=5) as reply:
        state = json.loads(reply.read())
    assert [v["user"] for v in state["views"]] == ["U0CAROL"]
    assert [e["text"] for e in state["ephemerals"]] == ["only you"]
    assert {c["name"] for c in state["channels"]} >= {"general", "alerts"}
    assert [c["method"] for c in state["calls"]] == ["views.open", "auth.test"]

    post(f"{base}/_sandbox/reset", {})
    assert server.workspace.views == [] and server.workspace.latency_ms == 0


def test_reset_returns_to_the_seed(client: WebClient, server: SandboxServer) -> None:
    client.conversations_create(name="inc-3")
    server.workspace.fail_next("auth.test")
    server.workspace.reset()
    assert server.workspace.channel_by_name("inc-3") is None
    assert len(server.workspace.channels) == 6 and server.workspace.calls == []
    assert client.auth_test()["ok"]


def test_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="127.0.0.1"):
        SandboxServer().start(host="0.0.0.0")
