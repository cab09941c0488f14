"""A page is never lost across a restart, nor sent twice: the real `opsbot serve`, killed (SIGKILL)
between an escalation and its page's due time, sends the page once after it is started again."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from bot.sandbox.server import SandboxServer
from bot.sandbox.simulator import SlackSimulator
from storage.db import make_engine
from storage.paging import DUE, SENT, PageSend
from tests.support.paging_services import NtfyStandIn
from tests.support.process import bot_process
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")


def sends(database_url: str) -> list[PageSend]:
    engine = make_engine(database_url)
    with Session(engine) as session:
        found = list(session.exec(select(PageSend)).all())
    engine.dispose()
    return found


def test_a_page_due_while_the_bot_was_down_goes_out_once_after_restart(sandbox: SandboxServer,
                                                                       tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/opsbot.db"
    with NtfyStandIn() as ntfy:
        pack = tmp_path / "pack"
        pack.mkdir()
        (pack / "paging.yaml").write_text(f"ntfy: {{server: '{ntfy.url}'}}\n")
        env = {"OPSBOT_TICK_SECONDS": "0.2", "OPSBOT_PLAYBOOKS": str(pack)}
        with bot_process(sandbox, database_url, tmp_path / "bot.log", extra_env=env, stop=signal.SIGKILL) as url:
            slack = SlackSimulator(url, sandbox.workspace.identity.signing_secret, sandbox)
            added = slack.command("U0BOB", "C0GENERAL", "/oncall", "contact add ntfy bob-pager-7f3a after 1h")
            assert "Added." in added.body, added.body
            slack.command("U0ALICE", "C0GENERAL", "/incident", "declare P1 Checkout is failing")
            eventually(lambda: sends(database_url), timeout=20, what="the escalation's page")
        # killed between the escalation and the page's due time (an hour later)
        [send] = sends(database_url)
        assert send.state == DUE and ntfy.messages == []
        engine = make_engine(database_url)
        with Session(engine) as session:  # what an hour of downtime looks like to the database
            session.exec(update(PageSend).values(due_at=datetime.now(UTC) - timedelta(minutes=1)))
            session.commit()
        engine.dispose()
        with bot_process(sandbox, database_url, tmp_path / "bot.log", extra_env=env, stop=signal.SIGKILL):
            eventually(lambda: ntfy.messages, timeout=20, what="the page after the restart")
            time.sleep(1.0)  # five more ticks: it must not go out again
            assert len(ntfy.messages) == 1 and ntfy.messages[0]["topic"] == "bob-pager-7f3a"
        [send] = sends(database_url)
        assert send.state == SENT and send.attempts == 1
