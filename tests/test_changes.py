"""Change requests end to end: signed `/change` commands, the request modal and the buttons in each
request's thread, through the running bot to the sandbox Slack; state read from the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlmodel import Session, col, select

from bot.changes import views
from bot.sandbox.elements import buttons
from bot.sandbox.models import Message
from storage.changes import ChangeApproval, ChangeEvent, ChangeRequest
from storage.postmortems import Postmortem
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")

PLATFORM = "C0PLATFORM"
REQUESTER, TEAM_LEAD, OPS_LEAD, SECURITY, OTHER = "U0ALICE", "U0DAVE", "U0BOB", "U0CAROL", "U0KIM"


@pytest.fixture
def bot(tmp_path: Path, database_url: str) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, database_url, FakeClock()) as running:
        yield running


def form(category: str, **overrides: Any) -> dict[str, dict[str, Any]]:
    values: dict[str, Any] = {
        "category": category, "priority": "Medium", "description": f"Upgrade the API gateway ({category})",
        "systems": "api-gateway, nginx", "user_impact": "Minimal", "downtime": "no", "risk": "Low",
        "implementation_plan": "Drain node 1\nUpgrade\nUndrain", "rollback_plan": "Reinstall the previous package",
        "testing": ["Unit tests pass", "Staging validation"],
    }
    values.update(overrides)
    return {block: {"value": value} for block, value in values.items() if value is not None}


def open_form(bot: BotUnderTest, user: str = REQUESTER) -> str:
    before = {v.id for v in bot.workspace.open_views(user)}
    assert bot.slack.command(user, "C0GENERAL", "/change", "request").status == 200
    view = eventually(lambda: [v for v in bot.workspace.open_views(user) if v.id not in before],
                      what="the change request form")[-1]
    return view.id


def request(bot: BotUnderTest, category: str, user: str = REQUESTER, **overrides: Any) -> ChangeRequest:
    count = len(changes(bot))
    response = bot.slack.submit_view(user, open_form(bot, user), form(category, **overrides))
    assert response.status == 200 and not (response.json or {}).get("errors"), response.body
    eventually(lambda: len(changes(bot)) > count, what="the stored change request")
    bot.settle()
    return changes(bot)[-1]


def changes(bot: BotUnderTest) -> list[ChangeRequest]:
    with Session(bot.rt.engine) as session:
        return list(session.exec(select(ChangeRequest).order_by(col(ChangeRequest.id))).all())


def change(bot: BotUnderTest, number: str) -> ChangeRequest:
    return next(cr for cr in changes(bot) if cr.number == number)


def events(bot: BotUnderTest, cr: ChangeRequest) -> list[ChangeEvent]:
    with Session(bot.rt.engine) as session:
        return list(session.exec(select(ChangeEvent).where(ChangeEvent.change_id == cr.id)
                                 .order_by(col(ChangeEvent.id))).all())


def button_message(bot: BotUnderTest, action_id: str, value: str) -> Message:
    def find() -> Message | None:
        for message in bot.workspace.messages(PLATFORM):
            if any(b.action_id == action_id and b.value == value for b in buttons(message.blocks)):
                return message
        return None

    return eventually(find, timeout=30, what=f"a message with button {action_id}={value}")


def has_button(bot: BotUnderTest, action_id: str, value: str) -> bool:
    bot.settle()
    return any(b.action_id == action_id and b.value == value
               for m in bot.workspace.messages(PLATFORM) for b in buttons(m.blocks))


def answers(bot: BotUnderTest, user: str, count: int) -> list[str]:
    found = eventually(lambda: len(bot.workspace.ephemerals(user)) >= count and bot.workspace.ephemerals(user),
                       timeout=30, what=f"{count} answer(s) to {user}")
    return [e.text for e in found]


def click(bot: BotUnderTest, user: str, action_id: str, cr: ChangeRequest, key: str = "") -> str:
    value = f"{cr.id}:{key}" if key else str(cr.id)
    message = button_message(bot, action_id, value)
    before = len(bot.workspace.ephemerals(user))
    assert bot.slack.click(user, PLATFORM, message.ts, action_id, value=value).status == 200
    text = answers(bot, user, before + 1)[before]
    bot.settle()
    return text


def command(bot: BotUnderTest, user: str, text: str, channel: str = "C0GENERAL") -> str:
    before = len(bot.workspace.ephemerals(user))
    response = bot.slack.command(user, channel, "/change", text)
    assert response.status == 200
    return answers(bot, user, before + 1)[before]


# -- the form ----------------------------------------------------------------------------------------
def test_invalid_form_shows_field_errors_and_stores_nothing(bot: BotUnderTest) -> None:
    view_id = open_form(bot)
    response = bot.slack.submit_view(REQUESTER, view_id, form(
        "emergency", description="   ", downtime="yes", downtime_duration="a while"))
    assert response.json["response_action"] == "errors"
    assert set(response.json["errors"]) == {"description", "downtime_duration", "approver"}
    self_approved = bot.slack.submit_view(REQUESTER, view_id, form("emergency", approver=REQUESTER))
    assert "cannot approve your own" in self_approved.json["errors"]["approver"]
    not_allowed = bot.slack.submit_view(REQUESTER, view_id, form("emergency", approver=OTHER))
    assert "may not approve Emergency changes" in not_allowed.json["errors"]["approver"]
    assert changes(bot) == []
    assert not bot.workspace.messages(PLATFORM)


def test_request_is_numbered_announced_with_the_template_and_idempotent(bot: BotUnderTest) -> None:
    view_id = open_form(bot)
    sent: list[dict[str, str]] = []
    post_form = bot.slack._post_form
    bot.slack._post_form = lambda f, ts, sig: sent.append(f) or post_form(f, ts, sig)  # type: ignore
    bot.slack.submit_view(REQUESTER, view_id, form("normal", downtime="yes", downtime_duration="30m"))
    bot.slack._post_form = post_form  # type: ignore
    assert post_form(sent[-1], None, None).status == 200  # the same submission again (double click)
    cr = eventually(lambda: changes(bot) and changes(bot)[0], what="the request")
    bot.settle()
    assert len(changes(bot)) == 1
    assert cr.number == "CR-2026-0001" and cr.status == "requested"
    [root] = [m for m in bot.workspace.messages(PLATFORM, include_threads=False)]
    shown = "\n".join(b["text"]["text"] for b in root.blocks if b.get("type") == "section")
    for part in ("Change Request #CR-2026-0001", "*Requestor*: <@U0ALICE>", "*Category*: Normal",
                 "*Priority*: Medium", "*Downtime Required*: Yes - 30m", "1. Drain node 1", "3. Undrain",
                 "☑ Unit tests pass", "☐ Integration tests pass", "☐ Technical Lead", "*Rollback Plan*"):
        assert part in shown, part
    thread = bot.workspace.thread(PLATFORM, root.ts)
    assert any(b.action_id == views.APPROVE for m in thread for b in buttons(m.blocks))
    assert request(bot, "standard").number == "CR-2026-0002"


def test_typed_text_cannot_ping_or_link(bot: BotUnderTest) -> None:
    request(bot, "standard", description="Patch <!channel> & <https://evil.example|docs>")
    [root] = bot.workspace.messages(PLATFORM, include_threads=False)
    shown = str(root.blocks)
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|docs&gt;" in shown and "<!channel>" not in shown


def test_help_list_show_and_bad_commands(bot: BotUnderTest) -> None:
    assert "/change request" in bot.slack.command(OTHER, "C0GENERAL", "/change", "help").body
    assert "No change requests" in command(bot, OTHER, "list")
    cr = request(bot, "normal")
    assert cr.number in command(bot, OTHER, "list")
    shown = command(bot, OTHER, f"show {cr.number.lower()}")
    assert "Change Request #CR-2026-0001" in shown and "Normal change requested" in shown
    assert "There is no change request CR-2026-0099" in command(bot, OTHER, "show CR-2026-0099")
    assert "like `/change start CR-2026-0001`" in bot.slack.command(OTHER, "C0GENERAL", "/change", "start").body
    assert "not something I know" in bot.slack.command(OTHER, "C0GENERAL", "/change", "frobnicate").body


# -- categories --------------------------------------------------------------------------------------
def test_standard_change_is_approved_automatically_and_runs_to_done(bot: BotUnderTest) -> None:
    cr = request(bot, "standard")
    assert cr.status == "approved" and cr.approved_by == "opsbot"
    assert not has_button(bot, views.APPROVE, str(cr.id))
    assert "approved automatically" in command(bot, TEAM_LEAD, f"approve {cr.number}")
    assert "in progress" in click(bot, OTHER, views.START, cr)
    assert "is done" in click(bot, OTHER, views.DONE, cr)
    kinds = [(e.kind, e.author) for e in events(bot, change(bot, cr.number))]
    assert kinds == [("requested", REQUESTER), ("approved", "opsbot"), ("started", OTHER), ("done", OTHER)]
    assert change(bot, cr.number).finished_at == bot.clock()


def test_normal_change_needs_a_team_lead_never_the_requester_nor_a_non_member(bot: BotUnderTest) -> None:
    cr = request(bot, "normal")
    assert not has_button(bot, views.START, str(cr.id))
    assert "needs approval by Team Lead" in command(bot, REQUESTER, f"start {cr.number}")
    assert "you cannot approve" in click(bot, REQUESTER, views.APPROVE, cr)
    assert "Only members of @team-leads" in click(bot, OPS_LEAD, views.APPROVE, cr)
    assert change(bot, cr.number).status == "requested"
    # membership is read live: a team lead who left the group can no longer approve
    bot.workspace.state.usergroups["S0TEAMLEADS"].users.remove(TEAM_LEAD)
    assert "Only members of @team-leads" in click(bot, TEAM_LEAD, views.APPROVE, cr)
    bot.workspace.state.usergroups["S0TEAMLEADS"].users.append(TEAM_LEAD)
    assert "You approved" in click(bot, TEAM_LEAD, views.APPROVE, cr)
    approved = change(bot, cr.number)
    assert approved.status == "approved" and approved.approved_by == TEAM_LEAD
    assert "already approved" in command(bot, TEAM_LEAD, f"approve {cr.number}")
    assert not has_button(bot, views.APPROVE, str(cr.id))


def test_normal_change_respects_the_lead_time(bot: BotUnderTest) -> None:
    cr = request(bot, "normal")
    click(bot, TEAM_LEAD, views.APPROVE, cr)
    bot.clock.advance(timedelta(hours=23))
    refused = click(bot, REQUESTER, views.START, cr)
    assert "cannot start yet: Normal changes need 1d of lead time" in refused
    assert "may start from 2026-11-29 09:30 UTC (1h from now)" in refused
    assert change(bot, cr.number).status == "approved"
    bot.clock.advance(timedelta(hours=1))
    assert "in progress" in command(bot, REQUESTER, f"start {cr.number}")
    assert has_button(bot, views.ROLLBACK, str(cr.id)) and not has_button(bot, views.START, str(cr.id))
    assert "rolled back" in command(bot, REQUESTER, f"rollback {cr.number}")
    final = change(bot, cr.number)
    assert final.status == "rolled_back" and final.started_at is not None
    assert [e.kind for e in events(bot, final)] == ["requested", "approved", "started", "rolled_back"]


def test_illegal_transitions_and_double_clicks_change_nothing(bot: BotUnderTest) -> None:
    cr = request(bot, "standard")
    assert "only a change in progress" in command(bot, OTHER, f"done {cr.number}")
    message = button_message(bot, views.START, str(cr.id))
    for _ in range(2):  # a double click: both requests reach the bot
        assert bot.slack.click(OTHER, PLATFORM, message.ts, views.START, value=str(cr.id)).status == 200
    texts = answers(bot, OTHER, 3)[-2:]
    assert sorted("in progress." in t for t in texts) == [False, True], texts
    assert any("already in progress" in t or "same moment" in t for t in texts)
    assert [e.kind for e in events(bot, cr)].count("started") == 1
    command(bot, OTHER, f"done {cr.number}")
    assert "is done; nothing changed" in command(bot, OTHER, f"rollback {cr.number}")
    assert "already done" in command(bot, OTHER, f"start {cr.number}")


def test_emergency_starts_at_once_and_the_named_approver_is_reminded_until_approved(bot: BotUnderTest) -> None:
    cr = request(bot, "emergency", approver=OPS_LEAD, priority="High")
    assert cr.approval_owed and cr.status == "requested" and cr.named_approver == OPS_LEAD
    first = eventually(lambda: bot.workspace.dms_to(OPS_LEAD), what="the first notice")
    assert cr.number in first[0].text and "verbal approval" in first[0].text
    assert "in progress" in click(bot, REQUESTER, views.START, cr)
    assert change(bot, cr.number).approval_owed
    bot.tick()
    bot.settle()
    assert len(bot.workspace.dms_to(OPS_LEAD)) == 1  # nothing due yet
    for hour in (1, 2):
        bot.clock.advance(timedelta(hours=1))
        bot.tick()
        bot.tick()  # a second pass (or replica) in the same interval sends nothing more
        bot.settle()
        dms = bot.workspace.dms_to(OPS_LEAD)
        assert len(dms) == 1 + hour and dms[-1].text.startswith("Reminder: emergency change " + cr.number)
    root = next(m for m in bot.workspace.messages(PLATFORM, include_threads=False))
    assert sum("Reminder" in m.text for m in bot.workspace.thread(PLATFORM, root.ts)) == 2
    assert "you cannot approve" in click(bot, REQUESTER, views.APPROVE, cr)
    assert "You approved" in click(bot, OPS_LEAD, views.APPROVE, cr)
    approved = change(bot, cr.number)
    assert not approved.approval_owed and approved.remind_at is None and approved.status == "in_progress"
    assert approved.reminders_sent == 2
    bot.clock.advance(timedelta(hours=3))
    bot.tick()
    bot.settle()
    assert len(bot.workspace.dms_to(OPS_LEAD)) == 3  # no reminders once recorded
    assert "is done" in click(bot, REQUESTER, views.DONE, cr)


def test_emergency_reminder_survives_a_restart_once(tmp_path: Path, postgres_url: str) -> None:
    clock = FakeClock()
    with running_bot(tmp_path, postgres_url, clock) as first:
        cr = request(first, "emergency", approver=TEAM_LEAD)
    clock.advance(timedelta(hours=5))  # the bot was down for five intervals
    with running_bot(tmp_path, postgres_url, clock) as second:
        second.tick()
        second.tick()
        second.settle()
        owed = change(second, cr.number)
        assert owed.reminders_sent == 1 and owed.remind_at == clock() + timedelta(hours=1)
        assert len([e for e in events(second, owed) if e.kind == "reminder"]) == 1


# -- approvals checklist -----------------------------------------------------------------------------
def test_approvals_checklist_records_who_and_when_and_only_allowed_people_tick(bot: BotUnderTest) -> None:
    cr = request(bot, "normal")
    assert "you cannot tick" in click(bot, REQUESTER, views.TICK, cr, "security_review")
    assert "Only members of @security" in click(bot, TEAM_LEAD, views.TICK, cr, "security_review")
    assert "Security Review ticked" in click(bot, SECURITY, views.TICK, cr, "security_review")
    bot.clock.advance(timedelta(minutes=5))
    assert "Technical Lead ticked" in click(bot, TEAM_LEAD, views.TICK, cr, "technical_lead")
    with Session(bot.rt.engine) as session:
        ticks = {t.item: (t.user_id, t.at) for t in session.exec(select(ChangeApproval)).all()}
    assert ticks == {"security_review": (SECURITY, clock_at(bot, -5)), "technical_lead": (TEAM_LEAD, bot.clock())}
    assert not has_button(bot, views.TICK, f"{cr.id}:security_review")
    assert has_button(bot, views.TICK, f"{cr.id}:platform_ops_lead")
    shown = command(bot, OTHER, f"show {cr.number}")
    assert "☑ Security Review" in shown and "☐ Platform Ops Lead" in shown


def clock_at(bot: BotUnderTest, minutes: int) -> Any:
    return bot.clock() + timedelta(minutes=minutes)


# -- links -------------------------------------------------------------------------------------------
def test_a_change_linked_to_an_incident_shows_in_its_brief_and_postmortem(bot: BotUnderTest) -> None:
    cr = request(bot, "standard", description="Rotate the TLS certificates")
    channel_id = bot.declare("declare P2 TLS handshakes failing")
    channel_name = next(c.name for c in bot.workspace.channels if c.id == channel_id)
    assert "is not an incident" in command(bot, OTHER, f"link {cr.number} #nowhere")
    assert "linked to INC-0001" in command(bot, OTHER, f"link {cr.number} <#{channel_id}|{channel_name}>")
    assert "already linked" in command(bot, OTHER, f"link {cr.number} INC-0001")
    bot.settle()

    def brief_names_it() -> bool:
        [brief] = bot.workspace.pinned_messages(channel_id)
        return f"Caused by change *{cr.number}*" in str(brief.blocks)

    eventually(brief_names_it, what="the brief to name the change")
    assert any(cr.number in t for t in bot.texts(channel_id))
    bot.slack.command(OTHER, channel_id, "/incident", "postmortem")
    bot.settle()
    with Session(bot.rt.engine) as session:
        postmortem = eventually(lambda: session.exec(select(Postmortem)).first(), what="the post-mortem")
    assert f"**Linked change**: {cr.number} (" in postmortem.text and "Rotate the TLS certificates" in postmortem.text
    assert change(bot, cr.number).incident_id == 1


def test_a_change_links_to_a_maintenance_window(bot: BotUnderTest) -> None:
    cr = request(bot, "normal")
    assert "window's number" in command(bot, OTHER, f"link {cr.number} window soon")
    if not inspect(bot.rt.engine).has_table("maintenance_window"):  # before maintenance windows exist: unchecked
        assert "linked to maintenance window MW-3" in command(bot, OTHER, f"link {cr.number} window 3")
        assert change(bot, cr.number).maintenance_window_id == 3
        return
    from storage.windows import MaintenanceWindow

    assert "There is no maintenance window MW-3" in command(bot, OTHER, f"link {cr.number} window 3")
    assert change(bot, cr.number).maintenance_window_id is None
    with Session(bot.rt.engine) as session:
        window = MaintenanceWindow(title="Database upgrade", starts_at=bot.clock() + timedelta(days=2),
                                   ends_at=bot.clock() + timedelta(days=2, hours=2), created_by=TEAM_LEAD,
                                   created_at=bot.clock())
        session.add(window)
        session.commit()
        window_id = window.id
    assert f"linked to maintenance window MW-{window_id}" in command(bot, OTHER, f"link {cr.number} MW-{window_id}")
    assert change(bot, cr.number).maintenance_window_id == window_id
    assert "already linked" in command(bot, OTHER, f"link {cr.number} window {window_id}")
    assert f"maintenance window MW-{window_id}" in command(bot, OTHER, f"show {cr.number}")
