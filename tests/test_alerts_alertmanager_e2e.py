"""End to end with the real Alertmanager: alerts posted to its API v2 reach the bot through its
webhook receiver (Bearer token), and the sandbox workspace shows one incident for the group, later
alerts attached by an edit, the resolution prompt after the resolves, and nothing for repeats."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from storage.alerts import Alert
from storage.models import Incident
from tests.support.alertmanager import api_alert, running_alertmanager, write_alert_playbook
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")

TOKEN = "e2e-bearer-token"


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotUnderTest]:
    playbooks = write_alert_playbook(tmp_path / "playbooks", TOKEN)
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock(), playbooks=playbooks) as running:
        yield running


def repeats(bot: BotUnderTest) -> int:
    text = httpx.get(f"{bot.url}/metrics").text
    return int(re.search(r'outcome="repeats"\} (\d+)', text).group(1))  # type: ignore[union-attr]


def test_real_alertmanager_group_becomes_one_incident(bot: BotUnderTest, tmp_path: Path) -> None:
    ws = bot.workspace
    with running_alertmanager(tmp_path / "am", f"{bot.url}/alerts/alertmanager", TOKEN) as am:
        firing = [api_alert("CheckoutErrors", f"web-{i}", severity="critical", service="checkout")
                  for i in range(1, 4)]
        am.post(firing)

        def channel() -> str | None:
            channels = [c.id for c in ws.channels if c.name.startswith("incident-2")]
            return channels[0] if channels and any("3 firing" in m.text for m in ws.messages(channels[0])) else None

        incident_channel = eventually(channel, timeout=20, what=f"an incident channel; {am.log()}")
        [summary] = [m for m in ws.messages(incident_channel) if "3 firing" in m.text]
        assert "web-1" in summary.text and "web-3" in summary.text

        # a fourth alert of the same group: attached, the summary edited (after the debounce)
        am.post([api_alert("CheckoutErrors", "web-4", severity="critical", service="checkout")])
        eventually(lambda: _stored(bot) == 4, timeout=15, what="the fourth alert")

        def edited() -> bool:
            bot.clock.advance(timedelta(seconds=31))
            bot.tick()
            bot.settle()
            return any(m.ts == summary.ts and "4 firing" in m.text for m in ws.messages(incident_channel))

        eventually(edited, timeout=10, what="the summary edited")
        assert len([m for m in ws.messages(incident_channel) if "firing" in m.text]) == 1

        # Alertmanager re-sends the unchanged group: nothing is posted or edited
        calls = len(ws.calls)
        eventually(lambda: repeats(bot) >= 1, timeout=20, what="a repeated notification")
        bot.tick()
        bot.settle()
        assert len(ws.calls) == calls

        # resolve all four: the channel is asked whether to resolve the incident
        now = datetime.now(UTC)
        am.post([{**a, "endsAt": now.isoformat().replace("+00:00", "Z")} for a in
                 [*firing, api_alert("CheckoutErrors", "web-4", severity="critical", service="checkout")]])
        prompt = eventually(lambda: [m for m in ws.messages(incident_channel) if "All alerts resolved" in m.text],
                            timeout=20, what="the resolution prompt")
        assert len(prompt) == 1

    with Session(bot.rt.engine) as session:
        incidents = session.exec(select(Incident)).all()
        statuses = sorted(a.status for a in session.exec(select(Alert)).all())
    assert len(incidents) == 1 and incidents[0].severity == "P1" and incidents[0].status == "open"
    assert statuses == ["resolved"] * 4
    assert len([c for c in ws.channels if c.name.startswith("incident-2")]) == 1


def _stored(bot: BotUnderTest) -> int:
    with Session(bot.rt.engine) as session:
        return len(session.exec(select(Alert)).all())
