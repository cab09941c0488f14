"""Follow-up reminders are timers as data: the real `opsbot serve`, killed between a follow-up's
creation and its due time, sends the owner's message once after it is started again; and two
processes ticking on one PostgreSQL send each reminder once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from bot.sandbox.server import SandboxServer
from bot.sandbox.simulator import SlackSimulator
from storage.db import make_engine
from storage.followups import FollowUp
from tests.support.waiting import eventually
from tests.test_restart import bot_process  # the bot ticking every 0.2 s, ended with SIGKILL

pytestmark = pytest.mark.kind("e2e")


def incident_with_followups(sandbox: SandboxServer, url: str, owners: list[str]) -> str:
    slack = SlackSimulator(url, sandbox.workspace.identity.signing_secret, sandbox)
    assert slack.command("U0ALICE", "C0GENERAL", "/incident", "declare P2 Search is slow").status == 200
    channel = eventually(lambda: next((c.id for c in sandbox.workspace.channels if c.name.startswith("incident-")
                                       and sandbox.workspace.pinned_messages(c.id)), None),
                         timeout=20, what="the incident channel")
    for n, owner in enumerate(owners):
        response = slack.command("U0ALICE", channel, "/incident", f"followup <@{owner}> 30d Follow-up number {n}")
        assert "added" in response.body, response.body
    return channel


def make_due(database_url: str, column: str) -> None:
    """What a month of waiting looks like to the database: the reminder is due."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        session.exec(update(FollowUp).values({column: datetime.now(UTC) - timedelta(minutes=1)}))
        session.commit()
    engine.dispose()


def reminders(sandbox: SandboxServer, user: str, words: str) -> list[str]:
    return [m.text for m in sandbox.workspace.dms_to(user) if words in m.text]


def test_a_reminder_due_while_the_bot_was_down_goes_out_once_after_restart(sandbox: SandboxServer,
                                                                          tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/opsbot.db"
    with bot_process(sandbox, database_url, tmp_path / "bot.log") as url:
        incident_with_followups(sandbox, url, ["U0KIM"])
    # killed (SIGKILL) between the follow-up's creation and its due time
    make_due(database_url, "remind_at")
    assert reminders(sandbox, "U0KIM", "is due today") == []
    with bot_process(sandbox, database_url, tmp_path / "bot.log"):
        eventually(lambda: reminders(sandbox, "U0KIM", "is due today"), timeout=20, what="the due reminder")
        time.sleep(1.0)  # five more ticks: it must not repeat
        assert len(reminders(sandbox, "U0KIM", "is due today")) == 1
    engine = make_engine(database_url)
    with Session(engine) as session:
        followup = session.exec(select(FollowUp)).one()
        assert followup.remind_at is None and followup.overdue_at is not None  # the next one still planned
    engine.dispose()


def test_two_processes_on_one_postgresql_send_each_reminder_once(sandbox: SandboxServer, postgres_url: str,
                                                                 tmp_path: Path) -> None:
    owners = ["U0KIM", "U0LEO", "U0CAROL", "U0DAVE"]
    with bot_process(sandbox, postgres_url, tmp_path / "a.log") as url_a, \
            bot_process(sandbox, postgres_url, tmp_path / "b.log"):
        incident_with_followups(sandbox, url_a, owners)
        for column, words in (("remind_at", "is due today"), ("overdue_at", "is still open")):
            make_due(postgres_url, column)
            for owner in owners:
                eventually(lambda o=owner, w=words: reminders(sandbox, o, w), timeout=20, what=f"{words} for {owner}")
            time.sleep(1.0)  # both processes tick five more times
            assert [len(reminders(sandbox, o, words)) for o in owners] == [1] * len(owners)
