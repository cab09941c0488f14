"""The scheduler cannot stall silently (issue 13): each hang injected for real (Slack that accepts
and never answers, a stuck SQLite writer, a PostgreSQL row lock held by another connection, the
fixture's PostgreSQL killed and restarted, Slack answering 429 and 5xx for ten minutes of the
injected clock). The stalled piece holds up only itself, /healthz says so with a 503 while it lasts,
and the reminders go out, once each and in order, when the hang ends.

The bounds these rely on: Slack's HTTP timeout (``OPSBOT_SLACK_TIMEOUT_SECONDS``, 10 s, not reached
here: the hang ends first), PostgreSQL's ``lock_timeout`` (5 s), SQLite's busy timeout (30 s, not
reached: the writer lets go first), and a stall reported after ``OPSBOT_STALL_SECONDS`` (1 s here).
After the hang, an update goes out at the next tick once its backoff has passed
(``bot.slack.outbox.MAX_BACKOFF``, 5 min at most, or Slack's Retry-After).
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select
from structlog.testing import capture_logs

from bot.sandbox.services.postgres import PostgresServer
from bot.slack import outbox
from bot.slack.outbox import MAX_BACKOFF
from handlers.replies import TRY_AGAIN
from storage.db import session_scope
from storage.models import Incident, OutboundMessage
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")
STALL_ENV = {"OPSBOT_STALL_SECONDS": "1"}


def updates(bot: BotUnderTest, channel_id: str) -> list[str]:
    return [t for t in bot.texts(channel_id) if t.startswith("*UPDATE")]


def incident_in(bot: BotUnderTest, channel_id: str) -> Incident:
    with Session(bot.engine) as session:
        return session.exec(select(Incident).where(Incident.channel_id == channel_id)).one()


def updates_due(bot: BotUnderTest) -> None:
    with Session(bot.engine) as session:
        session.exec(update(Incident).values(next_update_at=bot.clock()))  # type: ignore[call-overload]
        session.commit()


def health(bot: BotUnderTest) -> tuple[int, dict[str, Any]]:
    reply = httpx.get(f"{bot.url}/healthz", timeout=5)
    return reply.status_code, reply.json()


def stalled(bot: BotUnderTest) -> dict[str, Any] | None:
    status, body = health(bot)
    return body if status == 503 and "scheduler stalled for" in body.get("error", "") else None


def nothing_in_flight(bot: BotUnderTest) -> bool:
    with Session(bot.engine) as session:
        return session.exec(select(OutboundMessage).where(OutboundMessage.state == "sending")).first() is None


def test_slack_that_never_answers_holds_up_only_delivery(tmp_path: Path) -> None:
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock(), env=STALL_ENV) as bot:
        channel_id = bot.declare()
        bot.workspace.hang()  # Slack accepts every request and answers none
        with session_scope(bot.engine) as session:  # queued, for the scheduler's delivery to send
            outbox.post(session, bot.clock(), channel_id, "Checkout is back for most users")
        updates_due(bot)
        with capture_logs() as logs:
            bot.rt.kick_tick()
            body = eventually(lambda: stalled(bot), what="/healthz to say the scheduler is stalled")
            assert "(delivery)" in body["error"] or "(alerts)" in body["error"]  # the alert pump delivers too
            # the incident timers are a piece of their own: the update was claimed and queued meanwhile
            eventually(lambda: incident_in(bot, channel_id).next_update_at > bot.clock(), what="the timer")
        reports = [e for e in logs if e["event"] == "scheduler_stalled"]
        assert any("bot/slack/gateway.py" in e["waiting_in"] for e in reports), reports  # where it waits
        metrics = httpx.get(f"{bot.url}/metrics", timeout=5).text
        assert "# TYPE opsbot_scheduler_lag_seconds gauge" in metrics

        bot.workspace.release()  # the hang ends; what was in flight was never carried out
        eventually(lambda: nothing_in_flight(bot), what="the calls in flight to time out")
        bot.clock.advance(MAX_BACKOFF)
        bot.rt.kick_tick()
        eventually(lambda: updates(bot, channel_id), what="the update, after the hang")
        eventually(lambda: health(bot)[0] == 200, what="/healthz to recover")
        bot.settle()
        assert len(updates(bot, channel_id)) == 1
        assert bot.texts(channel_id).count("Checkout is back for most users") == 1


def test_a_stuck_sqlite_writer_delays_the_update_until_it_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "opsbot.db"
    with running_bot(tmp_path, f"sqlite:///{path}", FakeClock(), env=STALL_ENV) as bot:
        channel_id = bot.declare()
        updates_due(bot)
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another process holds SQLite's one write lock
        try:
            bot.rt.kick_tick()
            eventually(lambda: stalled(bot), what="/healthz to say the scheduler is stalled")
            assert updates(bot, channel_id) == []
        finally:
            writer.execute("COMMIT")
            writer.close()
        eventually(lambda: updates(bot, channel_id), what="the update once the writer let go")
        eventually(lambda: health(bot)[0] == 200, what="/healthz to recover")
        bot.rt.tick()
        bot.settle()
        assert len(updates(bot, channel_id)) == 1


def test_a_row_locked_elsewhere_delays_only_its_own_incident(tmp_path: Path, postgres_url: str) -> None:
    with running_bot(tmp_path, postgres_url, FakeClock(), env=STALL_ENV) as bot:
        locked = bot.declare("declare P1 Checkout is failing")
        free = bot.declare("declare P1 Search is slow")
        updates_due(bot)
        with psycopg.connect(postgres_url.replace("+psycopg", "")) as other:  # a transaction left open
            other.execute("SELECT id FROM incident WHERE id = %s FOR UPDATE", (incident_in(bot, locked).id,))
            bot.rt.kick_tick()
            eventually(lambda: updates(bot, free), timeout=20, what="the other incident's update")
            assert updates(bot, locked) == []
            other.rollback()
        bot.rt.kick_tick()  # the locked incident's timer failed after lock_timeout: due still, tried again
        eventually(lambda: updates(bot, locked), what="the update of the incident whose row was locked")
        bot.settle()
        assert [len(updates(bot, c)) for c in (locked, free)] == [1, 1]


def test_postgresql_restarted_during_an_open_incident(tmp_path: Path, postgres_server: PostgresServer,
                                                      postgres_url: str) -> None:
    with running_bot(tmp_path, postgres_url, FakeClock()) as bot:
        channel_id = bot.declare()
        postgres_server.kill()
        try:
            response = bot.slack.command("U0ALICE", channel_id, "/incident", "note The database restarts")
            assert response.status == 200
            assert eventually(lambda: [e.text for e in bot.workspace.ephemerals("U0ALICE", channel_id)
                                       if e.text == TRY_AGAIN], what="the answer to the note")
            assert health(bot)[0] == 503
            bot.clock.advance(timedelta(minutes=31))  # the update falls due while the database is down
            bot.tick()  # every piece fails and is logged; nothing escapes
        finally:
            postgres_server.start()
        bot.tick()  # the pool replaces the dead connections by itself (pre-ping)
        bot.settle()
        bot.tick()
        bot.settle()
        assert len(updates(bot, channel_id)) == 1
        response = bot.slack.command("U0ALICE", channel_id, "/incident", "note The database is back")
        assert response.status == 200
        assert eventually(lambda: [e for e in bot.workspace.ephemerals("U0ALICE", channel_id)
                                   if e.text.startswith("Noted on the timeline")], what="the note, noted")
        assert health(bot)[0] == 200


def test_slack_failing_for_ten_minutes_loses_and_doubles_nothing(tmp_path: Path) -> None:
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock()) as bot:
        channel_id = bot.declare()
        with Session(bot.engine) as session:
            before = max(r.id for r in session.exec(select(OutboundMessage)).all())
        bot.clock.advance(timedelta(minutes=21))
        bot.workspace.fail_next("chat.postMessage", status=429, retry_after=30, count=10**6)
        for minute in range(10):  # the update and the acknowledgement deadline (30 min) fall due meanwhile
            if minute == 5:
                bot.workspace.clear_faults()
                # 502: slack_sdk retries 500 and 503 within the call, which only slows the test down
                bot.workspace.fail_next("chat.postMessage", status=502, error="bad_gateway", count=10**6)
            bot.clock.advance(timedelta(minutes=1))
            bot.tick()
        bot.workspace.clear_faults()
        for _ in range(8):  # minute by minute: later calls fall due before earlier ones still backing off
            bot.clock.advance(timedelta(minutes=1))
            bot.tick()
        bot.settle()
        with Session(bot.engine) as session:
            rows = session.exec(select(OutboundMessage).where(col(OutboundMessage.id) > before)
                                .where(OutboundMessage.method == "chat.postMessage")
                                .order_by(col(OutboundMessage.id))).all()
        purposes = {r.purpose for r in rows}
        assert {"cadence", "cadence_stakeholders", "escalation", "escalation_dm"} <= purposes
        # the escalation of minute 22 met the 429s and the 5xxs; what fell due later waited behind it
        assert next(r for r in rows if r.purpose == "escalation").attempts > 2
        assert [r for r in rows if r.state != "sent"] == []
        by_channel: dict[str, list[OutboundMessage]] = defaultdict(list)
        for row in rows:
            by_channel[row.channel].append(row)
        for queued in by_channel.values():  # in order per channel: Slack's ts grow with the queue's order
            stamps = [float(r.result_ts or 0) for r in queued]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        for row in rows:  # none twice: each text once in its channel
            if row.channel.startswith("U"):
                continue  # a DM: the same text goes to each person escalated to
            channel = row.channel if row.channel.startswith("C") else next(
                c.id for c in bot.workspace.channels if f"#{c.name}" == row.channel)
            text = json.loads(row.args)["text"]
            assert bot.texts(channel).count(text) == 1, (row.purpose, channel)
        assert len(updates(bot, channel_id)) == 1
