"""Follow-ups end to end: added from the channel or the post-mortem's button, listed with
`/followups`, marked done by a button (by whom the rules allow), and their owners' direct messages
on the due date and the day after, once each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.followups import views
from storage.followups import DONE, FollowUp
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock()) as running:
        yield running


def command(bot: BotUnderTest, user: str, channel: str, name: str, text: str) -> str:
    response = bot.slack.command(user, channel, name, text)
    assert response.status == 200, response.body
    return response.json["text"] if response.json else response.body


def followups(bot: BotUnderTest) -> list[FollowUp]:
    with Session(bot.rt.engine) as session:
        return list(session.exec(select(FollowUp).order_by(FollowUp.id)).all())


def done_buttons(blocks: list[dict]) -> list[str]:
    return [b["accessory"]["value"] for b in blocks if (b.get("accessory") or {}).get("action_id") == views.MARK_DONE] \
        + [e["value"] for b in blocks for e in b.get("elements", []) if e.get("action_id") == views.MARK_DONE]


def test_owner_is_messaged_on_the_due_date_and_the_day_after_once_each(bot: BotUnderTest) -> None:
    channel = bot.declare()  # Sat 2026-11-28 09:30 UTC
    answer = command(bot, "U0ALICE", channel, "/incident", "followup <@U0KIM|kim> tomorrow Add a pool alert")
    assert answer == "Follow-up FU-1 added for <@U0KIM>, due Sun 29 Nov."
    bot.settle()
    assert any("added follow-up *FU-1* for <@U0KIM> (due tomorrow)" in t for t in bot.texts(channel))
    bot.clock.advance(timedelta(hours=23))  # Sun 08:30: not yet (reminders at 09:00, record.yaml)
    bot.tick()
    assert bot.workspace.dms_to("U0KIM") == []
    bot.clock.advance(timedelta(minutes=30))
    bot.tick()
    bot.tick()
    bot.settle()
    [due] = bot.workspace.dms_to("U0KIM")
    assert due.text == ":alarm_clock: Follow-up *FU-1* from INC-0001 is due today: Add a pool alert"
    assert done_buttons(due.blocks) == ["1"]
    bot.clock.advance(timedelta(days=1))
    bot.tick()
    bot.tick()
    bot.settle()
    dms = [m.text for m in bot.workspace.dms_to("U0KIM")]
    assert len(dms) == 2 and dms[1].startswith(":warning: Follow-up *FU-1* from INC-0001 was due Sun 29 Nov")
    bot.clock.advance(timedelta(days=3))
    bot.tick()
    bot.settle()
    assert len(bot.workspace.dms_to("U0KIM")) == 2  # once each, never again

    bot.slack.click("U0KIM", bot.workspace.dms_to("U0KIM")[1].channel, bot.workspace.dms_to("U0KIM")[1].ts,
                    views.MARK_DONE, value="1")
    eventually(lambda: followups(bot)[0].status == DONE, what="done by its button")
    eventually(lambda: any("FU-1 is done" in e.text for e in bot.workspace.ephemerals("U0KIM")), what="the answer")


def test_after_downtime_past_the_due_day_only_the_overdue_message_goes(bot: BotUnderTest) -> None:
    channel = bot.declare()
    command(bot, "U0ALICE", channel, "/incident", "followup <@U0KIM|kim> today Check the replica lag")
    bot.clock.advance(timedelta(days=2))  # the bot was down through the due day
    bot.tick()
    bot.settle()
    [only] = bot.workspace.dms_to("U0KIM")
    assert "was due Sat 28 Nov and is still open" in only.text


def test_followups_lists_mine_and_all_and_who_may_mark_one_done(bot: BotUnderTest) -> None:
    channel = bot.declare()
    command(bot, "U0ALICE", channel, "/incident", "assign commander <@U0BOB|bob>")
    command(bot, "U0ALICE", channel, "/incident", "followup <@U0KIM|kim> 2026-12-02 Alert on pool exhaustion")
    command(bot, "U0ALICE", channel, "/incident", "followup <@U0LEO|leo> 2026-11-30 Write the runbook")
    for bad, said in (("followup @kim friday x", "not a user mention"),
                      ("followup <@U0KIM> someday x", "not a due date"),
                      ("followup <@U0KIM> 2026-11-01 x", "is in the past")):
        assert said in command(bot, "U0ALICE", channel, "/incident", bad), bad
    assert len(followups(bot)) == 2

    mine = bot.slack.command("U0KIM", "C0GENERAL", "/followups", "")
    assert "Your open follow-ups" in mine.json["text"] and done_buttons(mine.json["blocks"]) == ["1"]
    shown = str(mine.json["blocks"])
    assert "Alert on pool exhaustion" in shown and "Write the runbook" not in shown
    everyone = bot.slack.command("U0DAVE", "C0GENERAL", "/followups", "all")
    assert done_buttons(everyone.json["blocks"]) == ["2", "1"]  # the sooner due first
    assert "Write the runbook" in str(everyone.json["blocks"]) and "<@U0LEO>" in str(everyone.json["blocks"])
    assert "no open follow-ups" in command(bot, "U0ERIN", "C0GENERAL", "/followups", "mine")
    assert "Which one?" in command(bot, "U0ERIN", "C0GENERAL", "/followups", "done yesterday")

    assert "owner, whoever added it or the Incident Commander" in command(bot, "U0DAVE", "C0GENERAL", "/followups",
                                                                          "done FU-2")
    assert command(bot, "U0BOB", "C0GENERAL", "/followups", "done FU-2") == "FU-2 is done."  # the commander
    assert command(bot, "U0LEO", "C0GENERAL", "/followups", "done FU-2").startswith("FU-2 was already done")
    assert [f.status for f in followups(bot)] == ["open", "done"]
    assert "There is no follow-up FU-9" in command(bot, "U0BOB", "C0GENERAL", "/followups", "done 9")


def test_the_post_mortem_button_opens_the_form_and_adds_one(bot: BotUnderTest) -> None:
    channel = bot.declare()
    command(bot, "U0ALICE", channel, "/incident", "resolve Fixed")
    command(bot, "U0ALICE", channel, "/incident", "postmortem")
    eventually(lambda: bot.rt.postmortems.run() or any("canvas" in t for t in bot.texts(channel)),
               what="the post-mortem message")
    bot.settle()
    message = next(m for m in bot.workspace.messages(channel) if "is this channel's canvas" in m.text)
    bot.slack.click("U0ALICE", channel, message.ts, views.OPEN_FORM, value="1")
    form = eventually(lambda: bot.workspace.open_views("U0ALICE"), what="the follow-up form")[-1]
    assert form.view["callback_id"] == views.FORM_VIEW
    refused = bot.slack.submit_view("U0ALICE", form.id, {"text": {"value": "Tune the pool"},
                                                          "owner": {"value": "U0KIM"}, "due": {"value": "2026-11-01"}})
    assert "in the past" in refused.json["errors"]["text"]
    bot.slack.submit_view("U0ALICE", form.id, {"text": {"value": "Tune the pool"}, "owner": {"value": "U0KIM"},
                                               "due": {"value": "2026-12-01"}})
    [added] = eventually(lambda: followups(bot), what="the follow-up")
    assert (added.owner, added.text, str(added.due_on), added.created_by) == ("U0KIM", "Tune the pool", "2026-12-01",
                                                                             "U0ALICE")
    regenerated = command(bot, "U0ALICE", channel, "/incident", "postmortem")
    assert regenerated == "Added to the post-mortem: 1 timeline entry and 1 action item."


def test_with_a_tracker_in_the_pack_each_follow_up_is_an_issue_kept_in_step(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.github_issues import GitHubIssuesStandIn

    token = "ghp_e2eTOKENvalue1234"
    monkeypatch.setenv("OPSBOT_GITHUB_TOKEN", token)  # read at start-up, like the alert integrations' secrets
    with GitHubIssuesStandIn("acme/platform", token=token) as github:
        pack = tmp_path / "pack"
        pack.mkdir()
        (pack / "record.yaml").write_text(f"followups:\n  tracker: {{kind: github, repository: acme/platform, "
                                          f"api_url: '{github.url}'}}\n")
        with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock(), playbooks=pack) as bot:
            channel = bot.declare()
            command(bot, "U0ALICE", channel, "/incident", "followup <@U0KIM|kim> friday Add a pool alert")
            issue = eventually(lambda: github.issues.get(1), what="the issue on GitHub")
            assert issue["title"] == "Add a pool alert (INC-0001 follow-up)"
            eventually(lambda: followups(bot)[0].tracker_key == "1", what="the issue number kept")
            listed = bot.slack.command("U0KIM", "C0GENERAL", "/followups", "")
            assert "<https://github.com/acme/platform/issues/1|github 1>" in str(listed.json["blocks"])

            github.close(1)
            bot.clock.advance(timedelta(minutes=6))  # record.yaml: read back every 5m
            bot.tick()
            eventually(lambda: followups(bot)[0].status == DONE, what="done after the issue was closed")
            bot.settle()
            assert any("Follow-up FU-1 done (closed in github)" in t for t in bot.texts(channel))
