"""The post-mortem draft in Slack, end to end: the seed's template filled from the incident as the
channel's canvas (the sandbox keeps canvases as Slack does, section by section), regenerated
without overwriting what was written, and a Markdown file uploaded the 2025 way where canvases are
not available. No message carries raw Markdown headings or tables."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.postmortems import views
from storage.models import TimelineEntry
from storage.postmortems import Postmortem, PostmortemEdit
from storage.timeline import ChannelMessage
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")
MARKDOWN_IN_MRKDWN = re.compile(r"^\s*(#{1,6} |\|.*\|\s*$)", re.MULTILINE)


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock()) as running:
        yield running


def run(bot: BotUnderTest, channel: str, text: str, user: str = "U0BOB") -> str:
    response = bot.slack.command(user, channel, "/incident", text)
    assert response.status == 200, response.body
    return response.json["text"] if response.json else response.body


def publish(bot: BotUnderTest) -> None:
    """The publisher's due work done (the command kicked it into the background; this makes sure)."""
    def done() -> bool:
        bot.rt.postmortems.run()
        now = bot.clock()
        with Session(bot.rt.engine) as session:
            busy = session.exec(select(PostmortemEdit).where(
                (PostmortemEdit.state == "sending")
                | ((PostmortemEdit.state == "pending") & (PostmortemEdit.next_attempt_at <= now)))).first()
        return busy is None

    eventually(done, what="the post-mortem's Slack edits")
    bot.settle()


def postmortem(bot: BotUnderTest) -> Postmortem:
    with Session(bot.rt.engine) as session:
        return session.exec(select(Postmortem)).one()


def no_markdown_posted(bot: BotUnderTest, channel: str) -> None:
    for message in bot.workspace.messages(channel):
        texts = [message.text, *(str(b.get("text", {}).get("text", "")) for b in message.blocks)]
        for text in texts:
            assert not MARKDOWN_IN_MRKDWN.search(text), text


def kept(bot: BotUnderTest, ts: str) -> bool:
    with Session(bot.rt.engine) as session:
        return session.exec(select(ChannelMessage).where(ChannelMessage.ts == ts)).first() is not None


def captured_link(bot: BotUnderTest) -> str | None:
    with Session(bot.rt.engine) as session:
        entry = session.exec(select(TimelineEntry).where(TimelineEntry.kind == "message")).first()
    return entry.permalink if entry else None


def a_resolved_incident(bot: BotUnderTest) -> str:
    channel = bot.declare("declare P1 Payments failing")  # 09:30
    run(bot, channel, "assign commander <@U0BOB|bob>")
    run(bot, channel, "assign comms lead <@U0JUDY|judy>")
    bot.clock.advance(timedelta(minutes=4))
    run(bot, channel, "ack")
    run(bot, channel, "note at 09:20 First 5xx alert fired")
    run(bot, channel, "update status: Investigating; impact: 20% of checkouts fail; actions: looking")
    said = bot.slack.say("U0KIM", channel, "Found it: config push 118 set the pool size to 1")
    # the message's event first, as Slack delivers it before anyone can react: a reaction that wins the
    # race marks a message the bot never saw, which waits for a history read (one a minute)
    eventually(lambda: kept(bot, said.message.ts), what="the message kept as it arrived")
    bot.slack.react("U0BOB", channel, said.message.ts, "pushpin")
    eventually(lambda: captured_link(bot), what="the captured message's permalink")  # looked up after the capture
    bot.clock.advance(timedelta(minutes=10))
    run(bot, channel, "update status: Mitigating; impact: 5% of checkouts slow; actions: failover to replica")
    bot.clock.advance(timedelta(minutes=10))
    run(bot, channel, "update status: Monitoring; actions: pool size restored")
    run(bot, channel, "followup <@U0KIM|kim> 2026-12-04 Alert on pool exhaustion")
    bot.clock.advance(timedelta(minutes=18))
    run(bot, channel, "resolve Reverted config push 118")
    bot.settle()
    return channel


def test_the_draft_is_the_channel_canvas_filled_from_the_incident(bot: BotUnderTest) -> None:
    channel = a_resolved_incident(bot)
    run(bot, channel, "note pasted xoxb-1234-5678-abcdef in the channel by mistake; revoked")
    assert "will be this channel's canvas" in run(bot, channel, "postmortem")
    publish(bot)
    canvas = bot.workspace.channel_canvas(channel)
    assert canvas is not None and canvas.title == "INC-0001 post-mortem"
    text = canvas.markdown
    for expected in (
        "# Incident Post-Mortem: INC-0001", "**Payments failing**",
        "- **Date**: 2026-11-28", "- **Duration**: 42m", "- **Severity**: P1 - High",
        "- **Impact**: 20% of checkouts fail → 5% of checkouts slow",  # the updates' impact fields
        "- **Declared**: 2026-11-28 09:30 UTC",
        "- **Acknowledged**: 2026-11-28 09:34 UTC (time to acknowledge: 4m)",
        "- **Mitigated**: 2026-11-28 09:54 UTC (time to mitigate: 24m)",
        "- **Resolved**: 2026-11-28 10:12 UTC",
        "- **Incident Commander**: ![](@U0BOB)", "- **Communications Lead**: ![](@U0JUDY)",
        "- **09:20** - First 5xx alert fired (![](@U0BOB))",
        "“Found it: config push 118 set the pool size to 1” [message](",
        "- [x] Detect: Open incident channel", "- [ ] Post-mortem: Hold the post-mortem review",
        "### What Happened\nReverted config push 118",
        "| Alert on pool exhaustion (FU-1) | ![](@U0KIM) | 2026-12-04 | open |",
    ):
        assert expected in text, expected
    assert "Update: Mitigating" not in text.split("## Timeline")[0]  # the old, wrong Impact line
    assert "xoxb-1234" not in text and "pasted [redacted] in the channel" in text
    assert [s.kind for s in canvas.sections if s.kind.startswith("h")][:3] == ["h1", "h2", "h2"]
    message = bot.texts(channel)[-1]
    assert "is this channel's canvas" in message
    no_markdown_posted(bot, channel)
    stored = postmortem(bot)
    assert stored.format == "canvas" and stored.canvas_id == canvas.id
    assert [line for line in stored.text.replace("xoxb-1234-5678-abcdef", "[redacted]").splitlines()
            if line.strip()] == text.splitlines()  # what the canvas got


def test_regenerating_adds_what_is_new_and_asks_before_replacing(bot: BotUnderTest) -> None:
    channel = a_resolved_incident(bot)
    run(bot, channel, "postmortem")
    publish(bot)
    assert run(bot, channel, "postmortem") == "The post-mortem is up to date: nothing happened since it was drafted."

    # the team writes in the canvas (the bot cannot read it back); new things happen
    canvas = bot.workspace.channel_canvas(channel)
    with bot.workspace.lock:  # what a person typing in the canvas does
        live = bot.workspace.state.canvases[canvas.id]
        why = next(i for i, s in enumerate(live.sections) if s.markdown == "### Why It Happened")
        live.sections[why + 1].markdown = "The pool size default changed in release 118."
    run(bot, channel, "note A customer reported double charges")
    run(bot, channel, "followup <@U0DAVE|dave> 3d Review config push approvals")
    answer = run(bot, channel, "postmortem")
    assert answer == "Added to the post-mortem: 2 timeline entries and 1 action item."  # the follow-up's entry too
    publish(bot)
    text = bot.workspace.channel_canvas(channel).markdown
    assert "The pool size default changed in release 118." in text  # kept
    timeline = text.split("## Timeline")[1].split("## Response Checklist")[0]
    assert timeline.rstrip().endswith("- **10:12** - Follow-up FU-2 for ![](@U0DAVE), due 2026-12-01: "
                                      "Review config push approvals (![](@U0BOB))")
    assert "A customer reported double charges" in timeline
    actions = text.split("## Action Items")[1].split("## Prevention Measures")[0]
    assert "| Review config push approvals (FU-2) | ![](@U0DAVE) | 2026-12-01 | open |" in actions
    assert bot.texts(channel)[-1] == ":memo: INC-0001's post-mortem draft: added 2 timeline entries and 1 action item"

    # something the bot wrote would now read differently: it asks
    assert "FU-1 is done." in bot.slack.command("U0KIM", channel, "/followups", "done FU-1").body
    assert run(bot, channel, "postmortem") == (
        "Added to the post-mortem: 1 timeline entry. Other parts would read differently now (Action Items); "
        "the channel is asked before the draft is replaced.")
    publish(bot)
    [ask] = [m for m in bot.workspace.messages(channel) if "overwrites whatever was written" in m.text]
    edits_before = bot.workspace.channel_canvas(channel).edits
    bot.clock.advance(timedelta(minutes=5))
    publish(bot)
    assert bot.workspace.channel_canvas(channel).edits == edits_before  # nothing replaced without a yes
    [(action, value)] = [(e["action_id"], e["value"]) for b in ask.blocks for e in b.get("elements", [])
                         if e.get("type") == "button"]
    assert action == views.REPLACE
    bot.slack.click("U0BOB", channel, ask.ts, action, value=value)
    eventually(lambda: "Replacing" in bot.workspace.ephemerals("U0BOB")[-1].text, what="the answer")
    publish(bot)
    text = bot.workspace.channel_canvas(channel).markdown
    assert "| Alert on pool exhaustion (FU-1) | ![](@U0KIM) | 2026-12-04 | done |" in text
    assert "The pool size default changed in release 118." not in text  # replaced, as asked
    assert "replaced with a fresh draft" in bot.texts(channel)[-1]
    no_markdown_posted(bot, channel)


def test_without_canvases_the_draft_is_a_markdown_file_uploaded_in_three_steps(bot: BotUnderTest) -> None:
    bot.workspace.disable_canvases()
    channel = a_resolved_incident(bot)
    run(bot, channel, "postmortem")
    publish(bot)
    [uploaded] = bot.workspace.files_in(channel)
    content = uploaded.content.decode()
    assert uploaded.filename == "INC-0001-post-mortem.md" and uploaded.length == len(uploaded.content)
    assert content.startswith("# Incident Post-Mortem: INC-0001")
    assert "- **Incident Commander**: @U0BOB" in content and "![](@" not in content
    assert [c.method for c in bot.workspace.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal", "files.completeUploadExternal"]
    assert any(m.files and m.files[0]["id"] == uploaded.id for m in bot.workspace.messages(channel))
    assert "team_tier_cannot_create_channel_canvases" in bot.texts(channel)[-1]
    assert postmortem(bot).format == "file"

    run(bot, channel, "note Reopened the payments queue")
    assert "1 timeline entry" in run(bot, channel, "postmortem")
    publish(bot)
    latest = bot.workspace.files_in(channel)[-1]
    assert len(bot.workspace.files_in(channel)) == 2 and "Reopened the payments queue" in latest.content.decode()
    no_markdown_posted(bot, channel)


def test_a_deleted_canvas_is_published_again_whole(bot: BotUnderTest) -> None:
    channel = a_resolved_incident(bot)
    run(bot, channel, "postmortem")
    publish(bot)
    with bot.workspace.lock:  # someone deletes the canvas in Slack
        bot.workspace.state.canvases.clear()
    run(bot, channel, "note After the canvas went")
    run(bot, channel, "postmortem")
    publish(bot)
    publish(bot)
    canvas = bot.workspace.channel_canvas(channel)
    assert canvas is not None and "After the canvas went" in canvas.markdown
    with Session(bot.rt.engine) as session:
        assert all(e.state == "done" for e in session.exec(select(PostmortemEdit)).all())


def test_slack_outage_delays_the_draft_and_loses_nothing(bot: BotUnderTest) -> None:
    channel = a_resolved_incident(bot)
    run(bot, channel, "postmortem")
    bot.workspace.fail_next("conversations.canvases.create", status=503, error="service_unavailable", count=3)
    publish(bot)
    assert bot.workspace.channel_canvas(channel) is None
    bot.clock.advance(timedelta(minutes=1))
    publish(bot)
    assert bot.workspace.channel_canvas(channel) is not None
    assert len(bot.workspace.calls_to("conversations.canvases.create")) == 4  # 3 refused (retried by the SDK too)
