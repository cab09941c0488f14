"""Scheduled maintenance windows end to end: signed `/maintenance` commands, the schedule form and
the buttons in a window's thread, through the running bot to the sandbox Slack; the clock is
injected and the scheduler tick is called by the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session, col, select

from bot.sandbox.elements import buttons
from bot.sandbox.models import Message
from bot.sandbox.seed import default_workspace
from bot.windows import views
from playbooks.loader import PACK_DIR
from storage.models import OutboundMessage
from storage.runs import Run
from storage.windows import CANCELLED, MaintenanceCheck, MaintenanceWindow
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")

PLATFORM, GENERAL = "C0PLATFORM", "C0GENERAL"
START = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)  # a Monday; the clock starts Saturday 09:30
WHEN = "Monday 30 November 2026 from 22:00 to 23:00 UTC"


def override(folder: Path, **changes: Any) -> Path:
    """An OPSBOT_PLAYBOOKS folder whose windows.yaml is the pack's with ``changes``."""
    pack = yaml.safe_load((PACK_DIR / "windows.yaml").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "windows.yaml").write_text(yaml.safe_dump({**pack, **changes}))
    return folder


@pytest.fixture
def bot(tmp_path: Path, database_url: str) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, database_url, FakeClock()) as running:
        yield running


def form(**overrides: str) -> dict[str, dict[str, Any]]:
    values = {"start": "2026-11-30 22:00", "duration": "1h", "title": "PostgreSQL 16 upgrade",
              "activities": "- Upgrade PostgreSQL\n- Vacuum <!channel>", "impact": "30 minutes downtime",
              "services": "postgres, backend"}
    values.update(overrides)
    return {block: {"value": value} for block, value in values.items() if value}


def open_form(bot: BotUnderTest, user: str = "U0ALICE") -> str:
    before = {v.id for v in bot.workspace.open_views(user)}
    assert bot.slack.command(user, GENERAL, "/maintenance", "schedule").status == 200
    return eventually(lambda: [v for v in bot.workspace.open_views(user) if v.id not in before],
                      what="the schedule form")[-1].id


def windows(bot: BotUnderTest) -> list[MaintenanceWindow]:
    with Session(bot.rt.engine) as session:
        return list(session.exec(select(MaintenanceWindow).where(col(MaintenanceWindow.standing_key).is_(None))
                                 .order_by(col(MaintenanceWindow.id))).all())


def schedule(bot: BotUnderTest, **overrides: str) -> MaintenanceWindow:
    count = len(windows(bot))
    response = bot.slack.submit_view("U0ALICE", open_form(bot), form(**overrides))
    assert response.status == 200 and not (response.json or {}).get("errors"), response.body
    eventually(lambda: len(windows(bot)) > count, what="the stored window")
    bot.settle()
    return windows(bot)[-1]


def command(bot: BotUnderTest, text: str, user: str = "U0BOB") -> str:
    before = len(bot.workspace.ephemerals(user))
    assert bot.slack.command(user, GENERAL, "/maintenance", text).status == 200
    found = eventually(lambda: len(bot.workspace.ephemerals(user)) > before and bot.workspace.ephemerals(user),
                       timeout=30, what="the answer")
    bot.settle()
    return found[before].text


def at(bot: BotUnderTest, when: datetime) -> None:
    bot.clock.advance(when - bot.clock())  # type: ignore[attr-defined]
    bot.tick()
    bot.settle()


def texts(bot: BotUnderTest, channel: str, needle: str) -> list[str]:
    return [m.text for m in bot.workspace.messages(channel) if needle in m.text]


def button(bot: BotUnderTest, action_id: str, value: str) -> Message | None:
    return next((m for m in bot.workspace.messages(PLATFORM)
                 if any(b.action_id == action_id and b.value == value for b in buttons(m.blocks))), None)


def click(bot: BotUnderTest, user: str, action_id: str, value: str) -> str:
    message = button(bot, action_id, value)
    assert message is not None, f"no {action_id} button {value}"
    before = len(bot.workspace.ephemerals(user))
    assert bot.slack.click(user, PLATFORM, message.ts, action_id, value=value,
                           thread_ts=message.thread_ts).status == 200
    found = eventually(lambda: len(bot.workspace.ephemerals(user)) > before and bot.workspace.ephemerals(user),
                       timeout=30, what="the answer to the click")
    bot.settle()
    return found[before].text


def test_invalid_form_shows_field_errors_and_stores_nothing(bot: BotUnderTest) -> None:
    view_id = open_form(bot)
    response = bot.slack.submit_view("U0ALICE", view_id, form(start="next sunday", duration="forever",
                                                               title=" ", services="db, rm -rf*"))
    assert response.json["response_action"] == "errors"
    errors = response.json["errors"]
    assert set(errors) == {"start", "duration", "title", "services"}
    assert "2026-12-06 22:00" in errors["start"] and "30m" in errors["duration"]
    past = bot.slack.submit_view("U0ALICE", view_id, form(start="2026-11-28 09:00", duration="3d"))
    assert past.json["errors"] == {"start": "The start is in the past; pick a time ahead.",
                                   "duration": "A window lasts between 1m and 2d."}
    assert bot.slack.submit_view("U0ALICE", view_id, form(start="2026-02-30 22:00")).json["errors"]["start"]
    assert windows(bot) == []
    assert not texts(bot, PLATFORM, "MW-")


def test_a_double_submit_of_the_form_is_one_window(bot: BotUnderTest) -> None:
    view_id = open_form(bot)
    sent: list[dict[str, str]] = []
    post_form = bot.slack._post_form
    bot.slack._post_form = lambda f, ts, sig: sent.append(f) or post_form(f, ts, sig)  # type: ignore
    bot.slack.submit_view("U0ALICE", view_id, form())
    bot.slack._post_form = post_form  # type: ignore
    assert post_form(sent[-1], None, None).status == 200  # the same submission again
    eventually(lambda: windows(bot), what="the window")
    bot.settle()
    assert len(windows(bot)) == 1


def test_a_window_announces_runs_its_checklist_offers_maintenance_mode_and_completes(bot: BotUnderTest) -> None:
    window = schedule(bot)
    assert (window.starts_at, window.ends_at, window.created_by) == (START, START + timedelta(hours=1), "U0ALICE")
    assert json.loads(window.services) == ["postgres", "backend"]
    bot.tick()  # the standing windows within the horizon are created
    listing = command(bot, "windows")
    assert f"*MW-{window.id}* PostgreSQL 16 upgrade — Mon 2026-11-30 22:00–23:00 UTC" in listing
    assert "Monthly maintenance: the first Sunday of each month at 22:00 for 2h, next Sun 2026-12-06 22:00" in listing
    assert "(standing: weekly)" in listing  # Sunday's weekly window came within the horizon
    assert not texts(bot, GENERAL, WHEN)

    at(bot, START - timedelta(hours=24))
    [notice] = texts(bot, GENERAL, WHEN)
    assert notice.startswith("*Scheduled Maintenance - Monday 30 November 2026 22:00*")
    header = next(m for m in bot.workspace.messages(PLATFORM) if m.text.startswith(f"🛠️ *MW-{window.id} "))
    assert "&lt;!channel&gt;" in str(header.blocks) and "<!channel>" not in str(header.blocks)  # typed text is inert
    thread = bot.workspace.thread(PLATFORM, header.ts)
    [listing_msg] = [m for m in thread if f"Pre-maintenance checklist for MW-{window.id}: 1/16 done" in m.text]
    assert "☑ Send maintenance notification to users — opsbot" in str(listing_msg.blocks)  # the bot sent it

    assert click(bot, "U0CAROL", views.TICK, f"{window.id}:status_page").startswith("Ticked “Update status page")
    assert click(bot, "U0BOB", views.TICK, f"{window.id}:staging_tested").startswith("Ticked “Test changes")
    with Session(bot.rt.engine) as session:
        ticks = {t.item_key: (t.done_by, t.done_at) for t in session.exec(select(MaintenanceCheck)).all()}
    assert ticks["status_page"] == ("U0CAROL", bot.clock()) and ticks["notify_users"][0] == "opsbot"
    checklist = eventually(lambda: next((m for m in bot.workspace.thread(PLATFORM, header.ts)
                                         if "3/16 done" in m.text), None), what="the edited checklist")
    assert "☑ Update status page with scheduled maintenance — <@U0CAROL>" in str(checklist.blocks)
    assert button(bot, views.TICK, f"{window.id}:status_page") is None
    assert button(bot, views.TICK, f"{window.id}:rollback_plan") is not None

    reminders = len(texts(bot, GENERAL, "Starting in 2 Hours"))  # Sunday's weekly window had its own
    at(bot, START - timedelta(hours=2))
    assert len(texts(bot, GENERAL, "Starting in 2 Hours")) == reminders + 1
    stage = texts(bot, PLATFORM, f"MW-{window.id} is at T-2h")
    assert len(stage) == 1 and "☐ T-24h: Prepare rollback plan" in stage[0] and "status page" not in stage[0]
    assert "Final reminder" not in stage[0]  # ticked by the bot with the 2-hour reminder
    at(bot, START - timedelta(minutes=30))
    [offer] = texts(bot, PLATFORM, f"MW-{window.id} is at T-30m")
    declared = "maintenance.enable" in bot.rt.playbook.actions
    assert (button(bot, views.ENABLE, str(window.id)) is not None) == declared
    if declared:
        answer = click(bot, "U0DAVE", views.ENABLE, str(window.id))
        assert "maintenance.enable" in answer
        with Session(bot.rt.engine) as session:
            [run] = session.exec(select(Run).where(Run.action == "maintenance.enable")).all()
        params = json.loads(run.params)
        assert run.requested_by == "U0DAVE"
        assert params["reason"] == f"Maintenance window MW-{window.id}: PostgreSQL 16 upgrade"
        assert params["eta"] == "60m"
    at(bot, START)
    assert texts(bot, PLATFORM, f"MW-{window.id} starts now: maintenance in progress")
    assert f"*MW-{window.id}* PostgreSQL 16 upgrade — *in progress* — Mon 2026-11-30 22:00" in command(bot, "windows")
    at(bot, START + timedelta(hours=1))
    [complete] = [t for t in texts(bot, GENERAL, "Maintenance Complete") if "Upgrade PostgreSQL" in t]
    assert "- Upgrade PostgreSQL\n- Vacuum &lt;!channel&gt;" in complete
    assert len(texts(bot, GENERAL, WHEN)) == 1 and len(texts(bot, GENERAL, "Starting in 2 Hours")) == reminders + 1
    assert f"*MW-{window.id}* " not in command(bot, "windows")


def test_a_restart_between_t24h_and_t2h_neither_repeats_nor_misses_a_notice(tmp_path: Path, database_url: str) -> None:
    clock, workspace = FakeClock(), default_workspace()
    with running_bot(tmp_path, database_url, clock, workspace=workspace) as first:
        window = schedule(first)
        at(first, START - timedelta(hours=24))
        assert len(texts(first, GENERAL, WHEN)) == 1
    clock.advance(timedelta(hours=22, minutes=5))  # down across T-2h
    with running_bot(tmp_path, database_url, clock, workspace=workspace) as second:
        second.tick()
        second.tick()
        second.settle()
        assert len(texts(second, GENERAL, WHEN)) == 1
        with Session(second.rt.engine) as session:  # the 2-hour reminder's text names no window: its row does
            reminder = session.exec(select(OutboundMessage)
                                    .where(OutboundMessage.purpose == f"window:{window.id}:notice_2h")).all()
        assert [(r.state, r.channel) for r in reminder] == [("sent", "#general")]
        assert any(m.ts == reminder[0].result_ts for m in workspace.messages(GENERAL))
        headers = [m for m in workspace.messages(PLATFORM) if m.text.startswith(f"🛠️ *MW-{window.id} ")]
        assert len(headers) == 1
        assert len(texts(second, PLATFORM, f"MW-{window.id} is at T-2h")) == 1


def test_only_planners_schedule_move_and_cancel(bot: BotUnderTest) -> None:
    assert bot.slack.command("U0CAROL", GENERAL, "/maintenance", "schedule").status == 200
    refusal = eventually(lambda: bot.workspace.ephemerals("U0CAROL"), what="the refusal")[0].text
    assert refusal == ("Only members of @platform-ops-lead, members of @team-leads, members of @oncall may "
                       "schedule, move or cancel maintenance windows.")
    assert bot.workspace.open_views("U0CAROL") == []
    window = schedule(bot)  # alice is on call
    assert "Only members of" in command(bot, f"cancel {window.id}", user="U0CAROL")
    assert "Only members of" in command(bot, f"move {window.id} 2026-12-01 22:00", user="U0CAROL")
    assert windows(bot)[0].status == "scheduled" and windows(bot)[0].starts_at == START
    assert "is cancelled" in command(bot, f"cancel {window.id}", user="U0DAVE")  # a team lead


def test_move_and_cancel_from_slack_and_the_notices_follow(bot: BotUnderTest) -> None:
    window = schedule(bot)
    assert "Say which window" in command(bot, "cancel")
    assert "Say which window and its new start" in command(bot, f"move {window.id}")
    assert "There is no maintenance window 99" in command(bot, "cancel 99")
    assert "Write the start like" in command(bot, f"move {window.id} tomorrow evening")
    at(bot, START - timedelta(hours=24))
    moved = command(bot, f"move MW-{window.id} 2026-12-01 21:30")
    assert "now runs Tue 2026-12-01 21:30–22:30 UTC" in moved and "notice of the new time goes out" in moved
    [notice] = texts(bot, GENERAL, "Rescheduled")
    assert "moves to Tuesday 01 December 2026 from 21:30 to 22:30 UTC" in notice
    at(bot, START - timedelta(hours=2))
    assert not texts(bot, GENERAL, "begins at 21:30 UTC")  # re-timed with the window
    at(bot, datetime(2026, 12, 1, 19, 30, tzinfo=UTC))
    assert len(texts(bot, GENERAL, "begins at 21:30 UTC")) == 1
    assert "cancellation notice goes out" in command(bot, f"cancel {window.id}")
    assert len(texts(bot, GENERAL, "Cancelled")) == 1
    assert windows(bot)[0].status == CANCELLED and windows(bot)[0].cancelled_by == "U0BOB"
    at(bot, datetime(2026, 12, 1, 23, 0, tzinfo=UTC))
    assert not texts(bot, GENERAL, "Upgrade PostgreSQL")  # no completion notice for a cancelled window
    assert "already cancelled" in command(bot, f"cancel {window.id}")


def test_a_team_replaces_the_templates_and_without_the_action_no_button(tmp_path: Path, database_url: str) -> None:
    templates = yaml.safe_load((PACK_DIR / "windows.yaml").read_text())["templates"]
    templates["notice_24h"] = "Heads up: $title on $date at $start $timezone ($duration_minutes minutes)."
    playbooks = override(tmp_path / "pack", standing=[], enable_action="site.maintenance", templates=templates,
                         notice_channels=["#engineering"])
    with running_bot(tmp_path, database_url, FakeClock(), playbooks=playbooks) as bot:
        window = schedule(bot)
        at(bot, START - timedelta(hours=24))
        at(bot, START - timedelta(minutes=30))
        assert texts(bot, "C0ENGINEERING", "Heads up: PostgreSQL 16 upgrade on Monday 30 November 2026 at 22:00 UTC "
                                           "(60 minutes).")
        assert not texts(bot, GENERAL, "Heads up")
        assert texts(bot, PLATFORM, f"MW-{window.id} is at T-30m")
        assert button(bot, views.ENABLE, str(window.id)) is None
        assert "Standing windows" not in command(bot, "windows")
