"""Many incidents due at once: their timers are claimed in batches (one transaction per batch, each
timer still once across threads and replicas), a broken incident holds back only itself, and the
stakeholder copies of the cadence updates reach each stakeholder channel as one message per batch,
not one per incident (Slack takes about one message per second per channel)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlmodel import Session, select

from bot.incidents.timers import BATCH
from storage.models import Incident
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock

pytestmark = pytest.mark.kind("e2e")


@pytest.fixture
def bot(tmp_path: Path, database_url: str) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, database_url, FakeClock()) as running:
        yield running


def open_incidents(bot: BotUnderTest, count: int, severity: str = "P1") -> list[str]:
    """``count`` acknowledged incidents with ready channels, their cadence update due now."""
    now = bot.clock()
    channels = [bot.workspace.add_channel(f"incident-due-{severity.lower()}-{n}").id for n in range(count)]
    with Session(bot.engine) as session:
        session.execute(insert(Incident), [dict(
            title=f"Due together {n}", severity=severity, status="open", phase="investigate", declared_by="U0ALICE",
            declared_at=now - timedelta(minutes=30), channel_id=channel, acknowledged_at=now,
            acknowledged_by="U0ALICE", next_update_at=now) for n, channel in enumerate(channels)])
        session.commit()
    return channels


def cadence_updates(bot: BotUnderTest, channel: str) -> int:
    return sum("UPDATE" in text for text in bot.texts(channel))


def test_many_due_together_fire_once_each_in_batches_with_one_stakeholder_message_per_batch(
        bot: BotUnderTest) -> None:
    count = BATCH + 2
    channels = open_incidents(bot, count)
    [broken] = open_incidents(bot, 1, severity="P9")  # its severity left the pack: its step fails
    # batches: 40 incidents; then the last 2 with the broken one, retried one at a time
    assert bot.rt.timers.run_due() == count
    bot.settle()
    assert [cadence_updates(bot, c) for c in channels] == [1] * count
    assert cadence_updates(bot, broken) == 0

    for stakeholders in ("C0PLATFORM", "C0ENGINEERING", "C0EXECUTIVE"):
        combined = [m for m in bot.workspace.messages(stakeholders) if "Scheduled status updates" in m.text]
        assert [m.text.split(":")[0] for m in combined] == [f"Scheduled status updates of {BATCH} incidents"]
        [sections] = [m.blocks[1:] for m in combined]
        assert [b["text"]["text"].count("Due together") for b in sections] == [1] * BATCH
        singles = [m for m in bot.workspace.messages(stakeholders) if m not in combined and "Due together" in m.text]
        assert len(singles) == 2

    assert bot.rt.timers.run_due() == 0  # each once
    with Session(bot.engine) as session:
        left = session.exec(select(Incident).where(Incident.channel_id == broken)).one()
        due = session.exec(select(Incident).where(Incident.channel_id == channels[0])).one()
    assert left.next_update_at == bot.clock()  # still due: it fires once its pack is fixed
    assert due.next_update_at == bot.clock() + timedelta(minutes=30)


def test_two_deliverers_of_the_same_due_timers_fire_each_once(bot: BotUnderTest) -> None:
    channels = open_incidents(bot, 12, severity="P2")
    fired: list[int] = []
    start = threading.Barrier(2)

    def tick() -> None:
        start.wait()
        fired.append(bot.rt.timers.run_due())

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(fired) == 12
    bot.settle()
    assert [cadence_updates(bot, c) for c in channels] == [1] * 12
    mirrored = [b["text"]["text"] for m in bot.workspace.messages("C0PLATFORM") for b in m.blocks
                if "Due together" in b.get("text", {}).get("text", "")]
    assert sorted(mirrored) == sorted(set(mirrored)) and len(mirrored) == 12  # each incident mirrored once
