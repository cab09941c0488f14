"""Malformed or unsigned requests get a 4xx and change nothing; they never reach a 500."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from bot.sandbox.signing import sign
from storage.models import Incident, TimelineEntry
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock

pytestmark = pytest.mark.kind("e2e")

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotUnderTest]:
    tmp: Path = tmp_path_factory.mktemp("malformed")
    with running_bot(tmp, f"sqlite:///{tmp}/opsbot.db", FakeClock()) as running:
        yield running


def payload(data: dict) -> str:
    return "payload=" + json.dumps(data)


CASES = [
    ("payload=notjson", FORM),
    ("{not json", "application/json"),
    (payload({"type": "view_submission", "user": {"id": "U0ALICE"},
              "view": {"id": "V1", "callback_id": "incident_update", "state": {"values": {}}}}), FORM),
    (payload({"type": "block_actions", "user": {"id": "U0ALICE"}, "actions": ["incident_tick"]}), FORM),
    (payload({"type": "block_actions", "actions": [{"action_id": "incident_tick", "value": "1:x"}]}), FORM),
    (payload(["not", "an", "object"]), FORM),
    ("command=%2Fincident&text=declare+P1+x", FORM),  # no user or channel
]


@pytest.mark.parametrize(("body", "content_type"), CASES)
def test_malformed_signed_requests_get_400(bot: BotUnderTest, body: str, content_type: str) -> None:
    secret = bot.workspace.identity.signing_secret
    ts = str(int(time.time()))
    response = httpx.post(f"{bot.url}/slack/events", content=body, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(secret, ts, body)})
    assert 400 <= response.status_code < 500, response.text
    with Session(bot.rt.engine) as session:
        assert session.exec(select(Incident)).all() == []
        assert session.exec(select(TimelineEntry)).all() == []


@pytest.mark.parametrize(("body", "content_type"), CASES)
def test_unsigned_garbage_gets_401(bot: BotUnderTest, body: str, content_type: str) -> None:
    response = httpx.post(f"{bot.url}/slack/events", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 401
