"""Alerts during a scheduled maintenance window: for the window's services they are stored and
shown but page nobody; for other services, and once the window is over, they page as usual."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from bot.windows import flows as windows
from bot.windows.forms import WindowForm
from storage.alerts import Alert
from storage.models import Incident
from tests.support.alertmanager import alert, notification, write_alert_playbook
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock

pytestmark = pytest.mark.kind("e2e")

TOKEN = "am-s3cret-token"


@pytest.fixture
def bot(tmp_path: Path, database_url: str) -> Iterator[BotUnderTest]:
    playbooks = write_alert_playbook(tmp_path / "playbooks", TOKEN)
    with running_bot(tmp_path, database_url, FakeClock(), playbooks=playbooks) as running:
        yield running


def fire(bot: BotUnderTest, name: str, service: str) -> None:
    body = notification(name, [alert(name, f"{service}-1", severity="critical", service=service)])
    response = httpx.post(f"{bot.url}/alerts/alertmanager", content=json.dumps(body).encode(), timeout=10,
                          headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    bot.rt.alerts.run()
    bot.settle()


def incidents(bot: BotUnderTest) -> list[Incident]:
    with Session(bot.rt.engine) as session:
        return list(session.exec(select(Incident)).all())


def test_alerts_for_services_under_maintenance_are_held_not_paged(bot: BotUnderTest) -> None:
    clock = bot.clock
    start = clock() + timedelta(hours=3)
    windows.schedule(bot.rt.work, WindowForm(starts_at=start, duration=timedelta(hours=1), title="PostgreSQL upgrade",
                             activities=(), expected_impact="", services=("postgres", "Redis")), "U0ALICE", None)
    fire(bot, "DbDownBefore", "postgres")  # before the window: pages
    assert len(incidents(bot)) == 1

    clock.advance(timedelta(hours=3, minutes=1))
    fire(bot, "DbDown", "postgres")
    fire(bot, "CacheDown", "redis")  # service names compare case-insensitively
    assert len(incidents(bot)) == 1  # held: stored and shown, nobody paged
    with Session(bot.rt.engine) as session:
        assert len(session.exec(select(Alert)).all()) == 3  # every alert is stored
    assert any("DbDown" in m.text for m in bot.workspace.messages("C0ALERTS"))
    fire(bot, "ApiDown", "api")  # not under maintenance: pages
    assert len(incidents(bot)) == 2

    clock.advance(timedelta(hours=1))  # the window is over
    fire(bot, "DbDownAgain", "postgres")
    assert len(incidents(bot)) == 3
