"""End to end: signed requests into the running bot, results read from the sandbox workspace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from storage.models import Incident, RoleAssignment, TimelineEntry
from storage.postmortems import Postmortem
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")


@pytest.fixture
def bot(tmp_path: Path, database_url: str) -> Iterator[BotUnderTest]:
    """Every test here runs against SQLite and against a real PostgreSQL."""
    with running_bot(tmp_path, database_url, FakeClock()) as running:
        yield running


def buttons(message_blocks: list[dict]) -> list[tuple[str, str]]:
    found = []
    for block in message_blocks:
        for element in [block.get("accessory") or {}, *block.get("elements", [])]:
            if element.get("type") == "button":
                found.append((element["action_id"], element.get("value", "")))
    return found


def double_click(bot: BotUnderTest, user: str, channel_id: str, ts: str, action_id: str, value: str) -> list:
    """Two deliveries of one click, as a double click sends them (the button has not re-rendered yet)."""
    sent: list[dict[str, str]] = []
    post_form = bot.slack._post_form
    bot.slack._post_form = lambda form, t, sig: sent.append(form) or post_form(form, t, sig)  # type: ignore
    try:
        first = bot.slack.click(user, channel_id, ts, action_id, value=value)
    finally:
        bot.slack._post_form = post_form  # type: ignore
    return [first, post_form(sent[-1], None, None)]


def incidents(bot: BotUnderTest) -> list[Incident]:
    with Session(bot.rt.engine) as session:
        return list(session.exec(select(Incident)).all())


def test_declare_creates_a_ready_channel(bot: BotUnderTest) -> None:
    channel_id = bot.declare("declare P1 Checkout is failing")
    ws = bot.workspace
    channel = ws.channel(channel_id)
    assert channel.name == "incident-20261128-0930"
    # declarer, the P1 responders (@oncall: alice, kim) and the bot
    assert {"U0ALICE", "U0KIM", "U0OPSBOT"} <= set(channel.members)
    assert "P1" in channel.topic and "Checkout is failing" in channel.topic
    assert "IC: unassigned" in channel.topic
    [brief] = ws.pinned_messages(channel_id)
    actions = buttons(brief.blocks)
    assert ("incident_claim_role", "1:incident_commander") in actions
    assert any(a == "incident_tick" for a, _ in actions)
    # the bot ticks what it did itself: the channel is open
    assert ("incident_untick", "1:open_channel") in actions and "~Open incident channel" in str(brief.blocks)
    assert "Major feature broken" in str(brief.blocks)  # the severity definition
    announcement = ws.messages("C0INCIDENTS")[-1]
    assert f"<#{channel_id}>" in announcement.text and "P1" in announcement.text
    ephemeral = eventually(lambda: ws.ephemerals("U0ALICE"), what="the declarer's answer")
    assert any(f"<#{channel_id}>" in e.text for e in ephemeral)


def test_channel_name_taken_gets_a_suffix(bot: BotUnderTest) -> None:
    bot.workspace.add_channel("incident-20261128-0930")
    channel_id = bot.declare("declare P2 Slow dashboard")
    assert bot.workspace.channel(channel_id).name == "incident-20261128-0930-2"


def test_claim_button_assigns_once_even_when_double_clicked(bot: BotUnderTest) -> None:
    channel_id = bot.declare()
    [brief] = bot.workspace.pinned_messages(channel_id)
    # Slack is slow to take the brief's re-render (one chat.update and its retries fail), so the
    # Claim button stays visible and a second person can still click it.
    bot.workspace.fail_next("chat.update", status=503, error="service_unavailable", count=3)
    first, second = double_click(bot, "U0BOB", channel_id, brief.ts, "incident_claim_role", "1:incident_commander")
    # buttons ack first and work after: the answers say when both clicks have been decided
    answers = eventually(lambda: len(bot.workspace.ephemerals("U0BOB")) >= 2 and bot.workspace.ephemerals("U0BOB"))
    assert sorted("already" in a.text for a in answers) == [False, True]
    third = bot.slack.click("U0KIM", channel_id, brief.ts, "incident_claim_role", value="1:incident_commander")
    assert first.status == second.status == third.status == 200
    assert "already held by <@U0BOB>" in eventually(lambda: bot.workspace.ephemerals("U0KIM"))[-1].text
    with Session(bot.rt.engine) as session:
        rows = session.exec(select(RoleAssignment)).all()
    assert [(r.role, r.user_id) for r in rows] == [("incident_commander", "U0BOB")]

    def refreshed_brief():  # the queued re-render goes out once Slack answers again
        bot.clock.advance(timedelta(seconds=5))
        bot.settle()
        [brief] = bot.workspace.pinned_messages(channel_id)
        return "<@U0BOB>" in str(brief.blocks) and brief

    brief = eventually(refreshed_brief, what="the re-rendered brief")
    assert ("incident_claim_role", "1:incident_commander") not in buttons(brief.blocks)
    assert "IC: <@U0BOB>" in bot.workspace.channel(channel_id).topic


def test_assign_and_bad_input_change_nothing(bot: BotUnderTest) -> None:
    channel_id = bot.declare()
    ok = bot.slack.command("U0ALICE", channel_id, "/incident", "assign tech lead <@U0CAROL|carol>")
    assert "Technical Lead" in ok.body
    for text, expected in [("assign boss <@U0KIM|kim>", "no role called"),
                           ("assign scribe @kim", "mention"),
                           ("declare P9 x", "P0, P1, P2 or P3"),
                           ("severity P5", "not a severity")]:
        response = bot.slack.command("U0ALICE", channel_id, "/incident", text)
        assert response.status == 200 and expected in response.body, (text, response.body)
    outside = bot.slack.command("U0ALICE", "C0GENERAL", "/incident", "note hello")
    assert "works in an incident channel" in outside.body
    with Session(bot.rt.engine) as session:
        roles = session.exec(select(RoleAssignment)).all()
        notes = session.exec(select(TimelineEntry).where(TimelineEntry.kind == "note")).all()
    assert [(r.role, r.user_id) for r in roles] == [("technical_lead", "U0CAROL")]
    assert notes == []


def test_bad_or_stale_signatures_get_401_and_change_nothing(bot: BotUnderTest) -> None:
    bad = bot.slack.command("U0ALICE", "C0GENERAL", "/incident", "declare P1 forged", signature="v0=deadbeef")
    import time

    stale = bot.slack.command("U0ALICE", "C0GENERAL", "/incident", "declare P1 replayed",
                              timestamp=str(int(time.time()) - 600))
    assert bad.status == 401 and stale.status == 401
    assert incidents(bot) == []
    assert not bot.workspace.calls_to("conversations.create")


def test_update_goes_to_the_channel_and_stakeholders(bot: BotUnderTest) -> None:
    channel_id = bot.declare()
    response = bot.slack.command("U0ALICE", channel_id, "/incident",
                                 "update status: Mitigating; impact: 20% of checkouts; actions: failing over; eta: 30m")
    assert "Update posted" in response.body
    bot.settle()
    for channel in (channel_id, "C0PLATFORM", "C0ENGINEERING"):
        texts = bot.texts(channel)
        assert any("Mitigating" in t and "20% of checkouts" in t and "failing over" in t for t in texts), channel
    # executives get the summary: status, impact and ETA, not the actions being tried
    [summary] = [t for t in bot.texts("C0EXECUTIVE") if "Mitigating" in t]
    assert "20% of checkouts" in summary and "ETA: 30m" in summary and "failing over" not in summary


def test_cadence_reminds_then_escalates_and_an_update_resets_the_clock(bot: BotUnderTest) -> None:
    channel_id = bot.declare("declare P1 Logins failing")
    bot.slack.command("U0BOB", channel_id, "/incident", "assign commander <@U0BOB|bob>")
    bot.slack.command("U0BOB", channel_id, "/incident", "ack")
    bot.settle()
    [brief] = bot.workspace.pinned_messages(channel_id)
    assert ("incident_untick", "1:acknowledge") in buttons(brief.blocks)  # ticked by the acknowledgement
    bot.tick()  # P1 starts at level 2 at once
    texts = bot.texts(channel_id)
    assert sum("Escalation level 2" in t for t in texts) == 1
    assert any("<!subteam^S0OPSLEAD>" in t for t in texts)
    assert any("escalated" in m.text for m in bot.workspace.dms_to("U0BOB"))

    bot.clock.advance(timedelta(minutes=29))
    bot.tick()
    assert not [t for t in bot.texts(channel_id) if "UPDATE" in t]
    bot.clock.advance(timedelta(minutes=1))
    bot.tick()
    cadence = [m for m in bot.workspace.messages(channel_id) if "UPDATE" in m.text]
    assert len(cadence) == 1
    assert "No update since" in str(cadence[0].blocks) and "<@U0BOB>" in str(cadence[0].blocks)
    assert ("incident_open_update", "1") in buttons(cadence[0].blocks)
    assert any("since declared" in t and "UPDATE" not in t for t in bot.texts("C0EXECUTIVE"))
    bot.tick()  # nothing new on a second tick at the same time
    assert len([m for m in bot.workspace.messages(channel_id) if "UPDATE" in m.text]) == 1

    # level 3 is due at 30 min by the matrix, notified once
    assert sum("Escalation level 3" in t for t in bot.texts(channel_id)) == 1

    # a posted update resets the clock: nothing due 29 minutes later
    bot.slack.command("U0BOB", channel_id, "/incident", "update Failing over the database")
    bot.settle()
    count = len([t for t in bot.texts(channel_id) if "UPDATE" in t])
    bot.clock.advance(timedelta(minutes=29))
    bot.tick()
    assert len([t for t in bot.texts(channel_id) if "UPDATE" in t]) == count


def test_two_missed_updates_escalate_early(bot: BotUnderTest) -> None:
    channel_id = bot.declare("declare P0 Platform down")  # P0: level 3 at once, updates every 15 min
    bot.slack.command("U0BOB", channel_id, "/incident", "ack")
    bot.tick()
    assert sum("Escalation level 3" in t for t in bot.texts(channel_id)) == 1
    bot.clock.advance(timedelta(minutes=15))
    bot.tick()
    assert not any("Escalation level 4" in t for t in bot.texts(channel_id))
    bot.clock.advance(timedelta(minutes=15))
    bot.tick()
    texts = bot.texts(channel_id)
    assert sum("Escalation level 4" in t for t in texts) == 1
    assert any("no update for 2 cycles" in t for t in texts)
    assert any("escalated" in m.text for m in bot.workspace.dms_to("U0HEIDI"))  # the CEO
    bot.clock.advance(timedelta(minutes=30))
    bot.tick()
    assert sum("Escalation level 4" in t for t in bot.texts(channel_id)) == 1  # each level once


def test_unacknowledged_incident_escalates_after_response_time(bot: BotUnderTest) -> None:
    channel_id = bot.declare("declare P2 Slow dashboard")  # P2: level 2 at once, response within 2h
    bot.tick()
    assert sum("Escalation level 2" in t for t in bot.texts(channel_id)) == 1
    bot.clock.advance(timedelta(minutes=29))
    bot.tick()
    assert not any("Escalation level 3" in t for t in bot.texts(channel_id))
    bot.clock.advance(timedelta(hours=2))
    bot.tick()
    texts = bot.texts(channel_id)
    assert any("Escalation level 3" in t and "not acknowledged within 2h" in t for t in texts)
    assert sum("Escalation level 4" in t for t in texts) == 1  # overdue by the matrix as well: told too


def test_levels_that_fell_due_together_are_each_notified(bot: BotUnderTest) -> None:
    channel_id = bot.declare("declare P1 Logins failing")  # level 2 at once, 3 at 30 min, 4 at 60 min
    bot.slack.command("U0BOB", channel_id, "/incident", "ack")
    bot.clock.advance(timedelta(minutes=75))  # as after downtime: all three levels are due
    bot.tick()
    texts = bot.texts(channel_id)
    assert [sum(f"Escalation level {n}" in t for t in texts) for n in (2, 3, 4)] == [1, 1, 1]


def test_severity_change_replans_and_resolution_stops_everything(bot: BotUnderTest) -> None:
    channel_id = bot.declare("declare P3 Typo on the pricing page")
    bot.tick()
    assert not any("Escalation" in t for t in bot.texts(channel_id))  # P3: no escalation
    bot.slack.command("U0ALICE", channel_id, "/incident", "severity P0")
    bot.tick()
    texts = bot.texts(channel_id)
    assert any("P3 → P0" in t for t in texts)
    assert sum("Escalation level 3" in t for t in texts) == 1  # P0: straight to the CTO
    assert any("escalated" in m.text for m in bot.workspace.dms_to("U0ERIN"))
    assert "P0" in bot.workspace.channel(channel_id).topic

    response = bot.slack.command("U0ALICE", channel_id, "/incident", "resolve Fixed the copy")
    assert "Resolved" in response.body
    bot.settle()
    before = len(bot.workspace.calls_to("chat.postMessage"))
    bot.clock.advance(timedelta(hours=3))
    bot.tick()
    assert len(bot.workspace.calls_to("chat.postMessage")) == before
    assert any("resolved" in t for t in bot.texts("C0INCIDENTS"))


def test_postmortem_is_drafted_from_the_timeline_and_kept(bot: BotUnderTest) -> None:
    channel_id = bot.declare("declare P1 Payments failing")
    bot.slack.command("U0BOB", channel_id, "/incident", "assign commander <@U0BOB|bob>")
    bot.slack.command("U0BOB", channel_id, "/incident", "note Found a bad config push")
    bot.clock.advance(timedelta(minutes=42))
    bot.slack.command("U0BOB", channel_id, "/incident", "resolve Reverted the config push")
    response = bot.slack.command("U0BOB", channel_id, "/incident", "postmortem")
    assert "Post-mortem drafted" in response.body
    bot.settle()
    with Session(bot.rt.engine) as session:
        [postmortem] = session.exec(select(Postmortem)).all()
    text = postmortem.text
    for expected in ("INC-0001", "42m", "P1", "Found a bad config push", "![](@U0BOB)", "Root Cause Analysis",
                     "Action Items", "Reverted the config push", "Declared"):
        assert expected in text, expected
    eventually(lambda: bot.rt.postmortems.run() or bot.workspace.channel_canvas(channel_id), what="the canvas")
    assert "Found a bad config push" in bot.workspace.channel_canvas(channel_id).markdown
    assert "The post-mortem is up to date" in bot.slack.command("U0BOB", channel_id, "/incident", "postmortem").body


def test_checklist_tick_is_idempotent_and_on_the_timeline(bot: BotUnderTest) -> None:
    channel_id = bot.declare()
    [brief] = bot.workspace.pinned_messages(channel_id)
    action, value = next((a, v) for a, v in buttons(brief.blocks) if a == "incident_tick")
    double_click(bot, "U0KIM", channel_id, brief.ts, action, value)
    eventually(lambda: len(bot.workspace.ephemerals("U0KIM")) >= 2, what="both clicks answered")
    bot.settle()
    with Session(bot.rt.engine) as session:
        ticks = session.exec(select(TimelineEntry).where(TimelineEntry.kind == "checklist",
                                                         TimelineEntry.author == "U0KIM")).all()
    assert len(ticks) == 1
    [brief] = bot.workspace.pinned_messages(channel_id)
    assert ("incident_untick", value) in buttons(brief.blocks)


def test_modal_declaration_validates_and_is_idempotent(bot: BotUnderTest) -> None:
    response = bot.slack.command("U0ALICE", "C0GENERAL", "/incident", "")
    assert response.status == 200
    view = eventually(lambda: bot.workspace.open_views("U0ALICE"), what="the modal")[-1]
    # Slack's client refuses empty required fields; a blank title still gets through as spaces
    bad = bot.slack.submit_view("U0ALICE", view.id, {"title": {"value": "   "}, "severity": {"value": "P2"}})
    assert bad.json["response_action"] == "errors" and set(bad.json["errors"]) == {"title"}
    assert incidents(bot) == []
    values = {"title": {"value": "Search is down"}, "severity": {"value": "P2"},
              "description": {"value": "All search requests 500"}}
    sent: list[dict[str, str]] = []
    post_form = bot.slack._post_form
    bot.slack._post_form = lambda form, ts, sig: sent.append(form) or post_form(form, ts, sig)  # type: ignore
    first = bot.slack.submit_view("U0ALICE", view.id, values)
    bot.slack._post_form = post_form  # type: ignore
    second = post_form(sent[-1], None, None)  # the same submission arriving twice (double click)
    assert first.status == second.status == 200
    eventually(lambda: any(i.brief_ts for i in incidents(bot)), what="provisioning")
    assert len(incidents(bot)) == 1
    bot.settle()
    assert any("Search is down" in str(m.blocks) or "INC-0001" in m.text for m in bot.workspace.dms_to("U0ALICE"))


def test_messages_survive_slack_rate_limits(bot: BotUnderTest) -> None:
    channel_id = bot.declare()
    bot.workspace.fail_next("chat.postMessage", status=429, retry_after=1, count=10)
    bot.slack.command("U0ALICE", channel_id, "/incident", "update Rolling back")
    bot.settle()
    assert not any("Rolling back" in t for t in bot.texts(channel_id))
    bot.clock.advance(timedelta(minutes=1))
    bot.tick()
    eventually(lambda: any("Rolling back" in t for t in bot.texts(channel_id)), what="the queued update")


def test_list_help_and_status(bot: BotUnderTest) -> None:
    channel_id = bot.declare("declare P2 Queue backlog")
    assert "INC-0001" in bot.slack.command("U0KIM", "C0GENERAL", "/incident", "list").body
    assert "/incident declare" in bot.slack.command("U0KIM", "C0GENERAL", "/incident", "help").body
    status = bot.slack.command("U0KIM", channel_id, "/incident", "status").body
    assert "P2" in status and "Queue backlog" in status and "Next update due" in status


def test_update_form_from_the_button_posts_the_four_fields(bot: BotUnderTest) -> None:
    channel_id = bot.declare()
    [brief] = bot.workspace.pinned_messages(channel_id)
    bot.slack.click("U0BOB", channel_id, brief.ts, "incident_open_update", value="1")
    view = eventually(lambda: bot.workspace.open_views("U0BOB"), what="the update form")[-1]
    response = bot.slack.submit_view("U0BOB", view.id, {
        "status": {"value": "Monitoring"}, "impact": {"value": "EU users only"},
        "actions": {"value": "Watching error rates"}, "eta": {"value": "15:00"}})
    assert response.status == 200 and not response.body.strip()
    bot.settle()
    [update] = [t for t in bot.texts(channel_id) if "UPDATE" in t]
    for field in ("Monitoring", "EU users only", "Watching error rates", "15:00"):
        assert field in update


def test_phase_changes_the_brief_checklist(bot: BotUnderTest) -> None:
    channel_id = bot.declare()
    response = bot.slack.command("U0ALICE", channel_id, "/incident", "phase contain")
    assert "Contain" in response.body
    assert "no phase called" in bot.slack.command("U0ALICE", channel_id, "/incident", "phase lunch").body
    bot.settle()
    [brief] = bot.workspace.pinned_messages(channel_id)
    assert "Checklist: Contain" in str(brief.blocks)
    with Session(bot.rt.engine) as session:
        kinds = [e.kind for e in session.exec(select(TimelineEntry)).all()]
    assert kinds.count("phase") == 1 and "declared" in kinds and "channel" in kinds


def test_a_single_rate_limit_is_retried_by_the_client(bot: BotUnderTest) -> None:
    channel_id = bot.declare()
    bot.workspace.fail_next("chat.postMessage", status=429, retry_after=1, count=1)
    bot.slack.command("U0ALICE", channel_id, "/incident", "update Retrying after a 429")
    bot.settle()
    assert any("Retrying after a 429" in t for t in bot.texts(channel_id))


def test_delivered_calls_are_pruned_after_a_week(bot: BotUnderTest) -> None:
    from storage.models import OutboundMessage

    bot.declare()
    with Session(bot.rt.engine) as session:
        sent = len(session.exec(select(OutboundMessage).where(OutboundMessage.state == "sent")).all())
    assert sent > 0
    bot.clock.advance(timedelta(days=6))
    assert bot.rt.delivery.prune_sent() == 0
    bot.clock.advance(timedelta(days=2))
    assert bot.rt.delivery.prune_sent() == sent


def test_update_without_text_opens_the_form_only_in_an_incident_channel(bot: BotUnderTest) -> None:
    channel_id = bot.declare()
    outside = bot.slack.command("U0KIM", "C0GENERAL", "/incident", "update")
    assert "works in an incident channel" in outside.body and not bot.workspace.open_views("U0KIM")
    inside = bot.slack.command("U0KIM", channel_id, "/incident", "update")
    assert inside.status == 200
    view = eventually(lambda: bot.workspace.open_views("U0KIM"), what="the update form")[-1]
    assert view.view["callback_id"] == "incident_update"
    assert {b["block_id"] for b in view.view["blocks"]} == {"status", "impact", "actions", "eta"}


def test_simultaneous_claims_make_one_holder(bot: BotUnderTest) -> None:
    """Clicks racing in parallel threads: one claim is stored, the others are told, none sees an error."""
    from concurrent.futures import ThreadPoolExecutor

    channel_id = bot.declare()
    [brief] = bot.workspace.pinned_messages(channel_id)
    bot.workspace.fail_next("chat.update", status=503, error="service_unavailable", count=30)  # buttons stay
    users = ["U0BOB", "U0KIM", "U0LEO", "U0DAVE"]
    with ThreadPoolExecutor(len(users)) as pool:
        results = list(pool.map(lambda u: bot.slack.click(u, channel_id, brief.ts, "incident_claim_role",
                                                          value="1:scribe"), users))
    assert all(r.status == 200 for r in results)
    # buttons ack first and work after; every clicker's answer means every claim has been decided
    answers = eventually(lambda: all(bot.workspace.ephemerals(u) for u in users) and
                         [bot.workspace.ephemerals(u)[-1].text for u in users], what="every clicker's answer")
    assert not any("went wrong" in a for a in answers), answers
    with Session(bot.rt.engine) as session:
        holders = [r.user_id for r in session.exec(select(RoleAssignment)).all()]
    assert len(holders) == 1


def test_a_crash_before_the_brief_was_saved_is_finished_by_the_scheduler(bot: BotUnderTest) -> None:
    from sqlalchemy import update

    channel_id = bot.declare()

    def provisioned() -> bool:  # the pin is visible a moment before the provisioning commit
        with Session(bot.rt.engine) as session:
            [incident] = session.exec(select(Incident)).all()
            return incident.provision_due_at is None and bool(incident.brief_ts)

    eventually(provisioned, what="the provisioning to be recorded")
    with Session(bot.rt.engine) as session:  # as left by a crash between channel creation and the pin
        session.exec(update(Incident).values(brief_ts=None, provision_due_at=bot.clock() + timedelta(minutes=2)))
        session.commit()
    bot.tick()
    assert len(bot.workspace.pinned_messages(channel_id)) == 1  # not yet: the declaring request may still finish
    bot.clock.advance(timedelta(minutes=3))
    bot.tick()
    with Session(bot.rt.engine) as session:
        [incident] = session.exec(select(Incident)).all()
    assert incident.brief_ts and incident.provision_due_at is None
    assert incident.brief_ts in [m.ts for m in bot.workspace.pinned_messages(channel_id)]
    assert len([c for c in bot.workspace.channels if c.name.startswith("incident-2")]) == 1
