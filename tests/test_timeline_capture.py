"""The timeline from Slack, end to end: signed Events API deliveries (messages, edits, deletions,
reactions, Slack's retries of one event) and the signed message shortcut, into the running bot and
the sandbox Slack; the timeline read back with `/incident timeline` and from the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from bot.timeline import views
from storage.models import TimelineEntry
from storage.timeline import ChannelMessage, HistoryRead, SlackEvent, TimelineMark
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock()) as running:
        yield running


def captured(bot: BotUnderTest) -> list[TimelineEntry]:
    with Session(bot.rt.engine) as session:
        return list(session.exec(select(TimelineEntry).where(TimelineEntry.kind == "message")
                                 .order_by(col(TimelineEntry.id))).all())


def rows(bot: BotUnderTest, table: type) -> list:
    with Session(bot.rt.engine) as session:
        return list(session.exec(select(table)).all())


def answer(bot: BotUnderTest, user: str, channel: str, text: str) -> str:
    response = bot.slack.command(user, channel, "/incident", text)
    assert response.status == 200, response.body
    return response.json["text"] if response.json else response.body


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_pin_reaction_captures_a_message_once_and_follows_it(tmp_path: Path, database_url: str) -> None:
    with running_bot(tmp_path, database_url, FakeClock()) as bot:
        channel = bot.declare()
        said = bot.slack.say("U0BOB", channel, "Payments DB at 100% CPU since 09:41 <!channel>")
        assert said.response.status == 200
        eventually(lambda: rows(bot, ChannelMessage), what="the message kept as it arrived")

        pinned = bot.slack.react("U0CAROL", channel, said.message.ts, "pushpin")
        assert pinned.response.status == 200
        [entry] = eventually(lambda: captured(bot), what="the captured entry")
        assert entry.author == "U0BOB" and entry.text.startswith("Payments DB at 100% CPU")
        assert entry.at == datetime.fromtimestamp(float(said.message.ts), UTC)  # the message's own time
        permalink = eventually(lambda: captured(bot)[0].permalink, what="its permalink")
        assert permalink.endswith(f"/archives/{channel}/p{said.message.ts.replace('.', '')}")

        # Slack retries the same delivery (X-Slack-Retry-Num): nothing more happens, even for an edit
        assert bot.slack.deliver(pinned.envelope, retry_num=1).status == 200
        assert bot.slack.deliver(said.envelope, retry_num=2, retry_reason="timeout").status == 200
        edited = bot.slack.edit("U0BOB", channel, said.message.ts, "Payments DB at 100% CPU, primary only")
        eventually(lambda: captured(bot)[0].edited_at is not None, what="the edit on the entry")
        first_edit = captured(bot)[0].edited_at
        bot.clock.advance(timedelta(minutes=1))
        assert bot.slack.deliver(edited.envelope, retry_num=1).status == 200
        bot.slack.say("U0BOB", channel, "barrier")  # handled after the retry
        eventually(lambda: len(rows(bot, ChannelMessage)) == 2, what="the barrier message")
        [entry] = captured(bot)
        assert entry.text == "Payments DB at 100% CPU, primary only" and entry.edited_at == first_edit
        assert len(rows(bot, TimelineMark)) == 1
        assert {e.event_id for e in rows(bot, SlackEvent)} >= {said.event_id, pinned.event_id, edited.event_id}

        # a second pin, then both taken off: the entry stays while one is left
        bot.slack.react("U0KIM", channel, said.message.ts, "pushpin")
        eventually(lambda: len(rows(bot, TimelineMark)) == 2, what="the second mark")
        bot.slack.react("U0CAROL", channel, said.message.ts, "pushpin", add=False)
        eventually(lambda: len(rows(bot, TimelineMark)) == 1, what="one mark left")
        assert len(captured(bot)) == 1
        bot.slack.react("U0KIM", channel, said.message.ts, "pushpin", add=False)
        eventually(lambda: captured(bot) == [], what="the entry taken off with the last pin")


def test_other_reactions_and_other_channels_capture_nothing(bot: BotUnderTest) -> None:
    channel = bot.declare()
    said = bot.slack.say("U0BOB", channel, "just chatting")
    bot.slack.react("U0CAROL", channel, said.message.ts, "eyes")
    elsewhere = bot.slack.say("U0BOB", "C0GENERAL", "not an incident channel")
    bot.slack.react("U0CAROL", "C0GENERAL", elsewhere.message.ts, "pushpin")
    barrier = bot.slack.say("U0BOB", channel, "barrier")
    eventually(lambda: any(m.ts == barrier.message.ts for m in rows(bot, ChannelMessage)), what="the barrier")
    assert captured(bot) == [] and rows(bot, TimelineMark) == []
    assert [m.channel_id for m in rows(bot, ChannelMessage)] == [channel, channel]  # only the incident's


def test_edit_and_delete_of_a_captured_message_reach_its_entry(bot: BotUnderTest) -> None:
    channel = bot.declare()
    said = bot.slack.say("U0BOB", channel, "Rolled back release 42", thread_ts=None)
    reply = bot.slack.say("U0KIM", channel, "confirmed, errors dropping", thread_ts=said.message.ts)
    # both messages' events first: a reaction that outruns its message waits for a history read
    eventually(lambda: len(rows(bot, ChannelMessage)) == 2, what="both messages kept as they arrived")
    for message in (said.message, reply.message):
        bot.slack.react("U0ALICE", channel, message.ts, "pushpin")
    eventually(lambda: len(captured(bot)) == 2, what="both captured, the thread reply too")
    bot.slack.delete("U0KIM", channel, reply.message.ts)
    # the two reactions are handled concurrently: entries are found by their text, not their order
    eventually(lambda: {e.text: e.deleted_at is not None for e in captured(bot)}
               == {"Rolled back release 42": False, "confirmed, errors dropping": True},
               what="the deletion on the entry")
    timeline = answer(bot, "U0ALICE", channel, "timeline")
    assert "“Rolled back release 42”" in timeline and "<@U0BOB>" in timeline
    assert "~“confirmed, errors dropping”~ (deleted in Slack)" in timeline


def test_the_message_shortcut_adds_a_message_from_any_channel(bot: BotUnderTest) -> None:
    channel = bot.declare()
    post = bot.workspace.post_as("U0DAVE", "C0ENGINEERING", "deploy 42 went out at 09:20")
    response = bot.slack.message_shortcut("U0ALICE", "C0ENGINEERING", post.ts, views.SHORTCUT)
    assert response.status == 200
    form = eventually(lambda: bot.workspace.open_views("U0ALICE"), what="the form")[-1]
    assert "deploy 42 went out" in str(form.view["blocks"])
    [incident_option] = form.view["blocks"][1]["element"]["options"]
    bot.slack.submit_view("U0ALICE", form.id, {"incident": {"value": incident_option["value"]}})
    [entry] = eventually(lambda: captured(bot), what="the shortcut's entry")
    assert (entry.author, entry.message_channel, entry.text) == ("U0DAVE", "C0ENGINEERING",
                                                                 "deploy 42 went out at 09:20")
    assert rows(bot, TimelineMark)[0].via == "shortcut"
    assert "deploy 42 went out at 09:20" in answer(bot, "U0ALICE", channel, "timeline")


def test_the_shortcut_says_so_when_no_incident_is_open(bot: BotUnderTest) -> None:
    post = bot.workspace.post_as("U0DAVE", "C0ENGINEERING", "hello")
    assert bot.slack.message_shortcut("U0ALICE", "C0ENGINEERING", post.ts, views.SHORTCUT).status == 200
    said = eventually(lambda: bot.workspace.ephemerals("U0ALICE"), what="the answer")
    assert "no open incident" in said[-1].text and bot.workspace.open_views("U0ALICE") == []


def test_a_message_the_bot_never_saw_is_read_from_history_once_within_the_limit(bot: BotUnderTest) -> None:
    # an app outside the Marketplace, since 2025: the sandbox measures the minute on the bot's clock
    bot.workspace.rate_limit("conversations.replies", 1, clock=lambda: bot.clock().timestamp())
    channel = bot.declare()
    unseen = [bot.workspace.post_as("U0BOB", channel, f"posted while the bot was away ({n})") for n in (1, 2)]
    for message in unseen:
        bot.slack.react("U0ALICE", channel, message.ts, "pushpin")
    eventually(lambda: len(rows(bot, HistoryRead)) == 2, what="two reads owed")
    reads = bot.rt.history.run_due  # what every tick kicks into the background, run here to watch it
    reads()
    assert captured(bot) == []  # a reaction may outrun its message's event: not read at once
    bot.clock.advance(timedelta(minutes=1))
    for _ in range(3):
        reads()
    assert len(bot.workspace.calls_to("conversations.replies")) == 1  # one a minute, however often it ticks
    assert [e.text for e in captured(bot)] == ["posted while the bot was away (1)"]
    bot.clock.advance(timedelta(minutes=1))
    reads()
    assert [e.text for e in captured(bot)] == [f"posted while the bot was away ({n})" for n in (1, 2)]
    assert all(e.permalink for e in captured(bot))
    bot.clock.advance(timedelta(minutes=5))
    reads()
    replies = bot.workspace.calls_to("conversations.replies")
    assert len(replies) == 2 and all(int(c.args["limit"]) <= 15 for c in replies)  # each read once, ever
    assert [r.state for r in rows(bot, HistoryRead)] == ["done", "done"]

    third = bot.workspace.post_as("U0BOB", channel, "posted while the bot was away (3)")
    bot.slack.react("U0ALICE", channel, third.ts, "pushpin")
    eventually(lambda: len(rows(bot, HistoryRead)) == 3, what="a third read owed")
    bot.clock.advance(timedelta(minutes=2))
    bot.tick()  # the tick kicks the reads into the background
    eventually(lambda: len(captured(bot)) == 3, what="the third message, read by the tick's background work")


def test_note_at_backdates_and_the_timeline_shows_dates_across_days(bot: BotUnderTest) -> None:
    channel = bot.declare()  # 2026-11-28 09:30 UTC
    assert answer(bot, "U0ALICE", channel, "note at 09:05 First alert fired") == "Noted on the timeline at 09:05."
    assert "still ahead" in answer(bot, "U0ALICE", channel, "note at 2026-11-29 09:05 x")
    assert "more than a day before" in answer(bot, "U0ALICE", channel, "note at 2026-11-20 09:05 x")
    assert "not a time of day" in answer(bot, "U0ALICE", channel, "note at 24:30 x")
    bot.clock.advance(timedelta(hours=15))  # past midnight
    assert answer(bot, "U0ALICE", channel, "note at 23:50 Failover finished") == \
        "Noted on the timeline at 23:50 on Sat 28 Nov."
    bot.slack.command("U0ALICE", channel, "/incident", "note Still watching")
    timeline = answer(bot, "U0ALICE", channel, "timeline")
    lines = timeline.splitlines()
    assert lines[1] == "*Sat 28 Nov 2026*" and lines[2].startswith("`09:05` First alert fired")
    assert any(line.startswith("`09:30` Declared") for line in lines)
    assert lines.index("*Sun 29 Nov 2026*") > lines.index(next(x for x in lines if x.startswith("`23:50` Failover")))
    assert lines[-1].startswith("`00:30` Still watching")
