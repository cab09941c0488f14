"""An alert storm through the HTTP endpoint: 10,000 alerts in 500 groups. Every alert is stored,
each group becomes exactly one incident or one triage message, and the Slack calls per group are
bounded (repeats of the whole storm add none)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, func, select

from storage.alerts import Alert, AlertGroup
from storage.models import Incident
from tests.support.alertmanager import alert, notification, write_alert_playbook
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock

pytestmark = pytest.mark.kind("e2e")

TOKEN = "storm-token"
GROUPS, PER_GROUP, CRITICAL = 500, 20, 10


@pytest.fixture
def bot(tmp_path: Path, database_url: str) -> Iterator[BotUnderTest]:
    playbooks = write_alert_playbook(tmp_path / "playbooks", TOKEN)
    with running_bot(tmp_path, database_url, FakeClock(), playbooks=playbooks) as running:
        yield running


def storm_bodies() -> list[bytes]:
    bodies = []
    for g in range(GROUPS):
        severity = "critical" if g < CRITICAL else "warning"
        name = f"Storm{g:03d}"
        alerts = [alert(name, f"host-{i}", severity=severity, service=f"svc{g}") for i in range(PER_GROUP)]
        bodies.append(json.dumps(notification(name, alerts)).encode())
    return bodies


def send_all(bot: BotUnderTest, bodies: list[bytes]) -> list[int]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=bot.url, headers=headers, timeout=30) as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda body: client.post("/alerts/alertmanager", content=body).status_code, bodies))


def count(bot: BotUnderTest, model: type) -> int:
    with Session(bot.rt.engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_storm_of_10000_alerts_in_500_groups(bot: BotUnderTest) -> None:
    bodies = storm_bodies()
    started = time.monotonic()
    assert set(send_all(bot, bodies)) == {200}
    intake_seconds = time.monotonic() - started
    bot.rt.alerts.run()
    bot.settle()
    assert count(bot, Alert) == GROUPS * PER_GROUP and count(bot, AlertGroup) == GROUPS
    assert count(bot, Incident) == CRITICAL
    ws = bot.workspace
    incident_channels = [c for c in ws.channels if c.name.startswith("incident-2")]
    triage = ws.messages("C0ALERTS")
    assert len(incident_channels) == CRITICAL and len(triage) == GROUPS - CRITICAL
    assert len({m.text.split("*")[1] for m in triage}) == GROUPS - CRITICAL  # one message per group
    for channel in incident_channels:  # each incident channel: its brief, one alert summary
        summaries = [m for m in ws.messages(channel.id) if "firing" in m.text]
        assert len(summaries) == 1 and "20 firing" in summaries[0].text

    calls = Counter(c.method for c in ws.calls)
    # per incident: create, invite, topic, brief, pin, announcement, summary; per triage group: one post
    assert calls["conversations.create"] == CRITICAL and calls["chat.update"] == 0
    assert calls["chat.postMessage"] <= (GROUPS - CRITICAL) + CRITICAL * 3
    assert sum(calls.values()) <= (GROUPS - CRITICAL) + CRITICAL * 10

    # the whole storm again (Alertmanager's repeats): stored once, not one Slack call more
    before = len(ws.calls)
    assert set(send_all(bot, bodies)) == {200}
    bot.rt.alerts.run()
    bot.settle()
    assert len(ws.calls) == before and count(bot, Alert) == GROUPS * PER_GROUP
    assert intake_seconds < 30, f"intake took {intake_seconds:.1f} s"
