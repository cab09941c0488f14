"""Customer notices and the status page through Slack: the Communications Lead drafts from the
seed's template, the Incident Commander approves, and only then does the notice reach
`GET /status` and `/status.json`; nothing internal ever does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from bot.public import views
from storage.public import CustomerNotice
from storage.windows import MaintenanceWindow
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.waiting import eventually
from tests.test_executor_e2e import Recorder

pytestmark = pytest.mark.kind("e2e")

COMMS, COMMANDER, OTHER = "U0JUDY", "U0BOB", "U0KIM"
INTERNAL = ["db-primary-7 INTERNAL-TITLE-3f9", "INTERNAL-UPDATE-81c", "INTERNAL-NOTE-5d2"]


@pytest.fixture
def bot(tmp_path: Path, database_url: str) -> Iterator[BotUnderTest]:
    with running_bot(tmp_path, database_url, FakeClock()) as running:
        yield running


def incident_with_roles(bot: BotUnderTest) -> str:
    channel = bot.declare(f"declare P1 Checkout failing on {INTERNAL[0]}")
    for command in (f"assign commander <@{COMMANDER}|bob>", f"assign comms <@{COMMS}|judy>",
                    f"update status: Investigating; impact: {INTERNAL[1]}; actions: failover of db-primary-7",
                    f"note {INTERNAL[2]} password rotation pending"):
        assert bot.slack.command("U0ALICE", channel, "/incident", command).status == 200
    bot.settle()
    return channel


def ephemeral(bot: BotUnderTest, user: str, send: Any) -> str:
    before = len(bot.workspace.ephemerals(user))
    assert send().status == 200
    found = eventually(lambda: len(bot.workspace.ephemerals(user)) > before and bot.workspace.ephemerals(user),
                       what=f"an answer to {user}")
    return found[before].text


def open_form(bot: BotUnderTest, channel: str, kind: str = "initial") -> Any:
    before = {v.id for v in bot.workspace.open_views(COMMS)}
    response = bot.slack.command(COMMS, channel, "/incident", f"notify {kind}")
    assert response.status == 200
    return eventually(lambda: [v for v in bot.workspace.open_views(COMMS) if v.id not in before],
                      what="the notice form")[-1]


def inputs(view: Any) -> dict[str, str]:
    return {b["block_id"]: b["element"].get("initial_value", "") for b in view.view["blocks"] if b["type"] == "input"}


def draft(bot: BotUnderTest, channel: str, kind: str = "initial", **changes: str) -> CustomerNotice:
    view = open_form(bot, channel, kind)
    values = inputs(view) | changes
    response = bot.slack.submit_view(COMMS, view.id, {k: {"value": v} for k, v in values.items()})
    assert response.status == 200 and not (response.json or {}).get("errors"), response.body
    bot.settle()
    return notices(bot)[-1]


def notices(bot: BotUnderTest) -> list[CustomerNotice]:
    with Session(bot.rt.engine) as session:
        return list(session.exec(select(CustomerNotice).order_by(CustomerNotice.id)).all())


def preview(bot: BotUnderTest, channel: str, notice: CustomerNotice) -> Any:
    def button() -> Any:
        for message in bot.workspace.messages(channel):
            blocks = json.dumps(message.blocks)
            if f'"{views.APPROVE_NOTICE}"' in blocks and f':{notice.id}"' in blocks:
                return message
        return None

    return eventually(button, what="the notice preview")


def approve(bot: BotUnderTest, channel: str, notice: CustomerNotice, user: str) -> str:
    message = preview(bot, channel, notice)
    return ephemeral(bot, user, lambda: bot.slack.click(user, channel, message.ts, views.APPROVE_NOTICE,
                                                         value=f"{notice.incident_id}:{notice.id}"))


class _Ok:
    status = 200


def status(bot: BotUnderTest) -> tuple[str, dict[str, Any]]:
    page = httpx.get(f"{bot.url}/status", timeout=10)
    data = httpx.get(f"{bot.url}/status.json", timeout=10)
    assert page.status_code == data.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    return page.text, data.json()


def test_draft_approve_publish_and_nothing_internal_reaches_the_status_page(bot: BotUnderTest) -> None:
    channel = incident_with_roles(bot)
    assert "drafted by the Communications Lead, <@U0JUDY>" in ephemeral(
        bot, OTHER, lambda: bot.slack.command(OTHER, channel, "/incident", "notify"))

    view = open_form(bot, channel)
    prefilled = inputs(view)
    assert prefilled["public_title"] == "YTEmpire - Experiencing Issues"  # the seed's subject line
    assert "We are currently experiencing issues with YTEmpire." in prefilled["body"]
    assert "Updates: https://status.example.com" in prefilled["body"]
    assert prefilled["impact"] == INTERNAL[1]  # prefilled from the incident: the drafter must rewrite it

    blank = bot.slack.submit_view(COMMS, view.id, {k: {"value": v} for k, v in (prefilled | {"body": "   "}).items()})
    assert blank.json["response_action"] == "errors" and "body" in blank.json["errors"]
    assert notices(bot) == []

    public_impact = "Some customers cannot check out <!channel>"
    response = bot.slack.submit_view(COMMS, view.id, {k: {"value": v} for k, v in (prefilled | {
        "impact": public_impact, "body": prefilled["body"].replace(INTERNAL[1], public_impact)}).items()})
    assert response.status == 200 and not (response.json or {}).get("errors")
    bot.settle()
    [notice] = notices(bot)
    assert notice.status == "draft" and notice.drafted_by == COMMS
    page, data = status(bot)
    assert data["incidents"] == [] and data["status"] == "operational" and "All systems operational" in page

    assert "Only the Incident Commander approves" in approve(bot, channel, notice, OTHER)
    assert "Only the Incident Commander approves" in approve(bot, channel, notice, COMMS)
    declared_at = bot.clock()
    bot.clock.advance(timedelta(minutes=40))  # the notice is approved well after the incident started
    recorder = Recorder(bot)
    assert "Published on the status page" in approve(bot, channel, notice, COMMANDER)
    replayed = ephemeral(bot, COMMANDER, lambda: recorder.resend(recorder.forms[-1]) or _Ok())  # a double click
    assert "Already published" in replayed
    bot.settle()
    assert any("published the initial customer notice" in t for t in bot.texts(channel))

    page, data = status(bot)
    [shown] = data["incidents"]
    assert shown["title"] == "YTEmpire - Experiencing Issues" and shown["resolved_at"] is None
    assert shown["started_at"] == declared_at.isoformat() and "since 2026-11-28 09:30 UTC" in page
    assert shown["impact"] == "Some customers cannot check out <!channel>"
    assert "We are currently experiencing issues with YTEmpire." in shown["latest_update"]
    assert "Some customers cannot check out &lt;!channel&gt;" in page  # escaped in HTML
    everything = page + json.dumps(data)
    for secret in [*INTERNAL, "db-primary-7", "incident-", "U0BOB", "U0JUDY", "failover", "password"]:
        assert secret not in everything, secret

    bot.slack.command("U0ALICE", channel, "/incident", "resolve Replica promoted INTERNAL-RESOLVE-22")
    bot.settle()
    resolved_at = bot.clock()
    bot.clock.advance(timedelta(minutes=25))
    resolution = draft(bot, channel, "resolution",
                       body="The issue affecting YTEmpire has been resolved.\nWe apologize for any inconvenience.")
    assert "Published" in approve(bot, channel, resolution, COMMANDER)
    page, data = status(bot)
    assert data["incidents"] == [] and len(data["history"]) == 1
    assert data["history"][0]["resolved_at"] == resolved_at.isoformat()
    assert data["history"][0]["started_at"] == declared_at.isoformat()
    assert "Resolved 2026-11-28 10:10 UTC · since 2026-11-28 09:30 UTC" in page
    assert data["history"][0]["title"] == "YTEmpire - Issue Resolved"
    assert "INTERNAL-RESOLVE-22" not in page + json.dumps(data)

    bot.clock.advance(timedelta(days=31))
    assert status(bot)[1]["history"] == []  # the last 30 days only


def test_a_commander_who_drafted_cannot_publish_alone(bot: BotUnderTest) -> None:
    channel = bot.declare("declare P2 Slow search")
    bot.slack.command("U0ALICE", channel, "/incident", f"assign commander <@{COMMS}|judy>")
    bot.slack.command("U0ALICE", channel, "/incident", f"assign comms <@{COMMS}|judy>")
    bot.settle()
    notice = draft(bot, channel)
    assert "your approval does not count" in approve(bot, channel, notice, COMMS)
    assert notices(bot)[0].status == "draft"


def test_scheduled_maintenance_is_listed_with_public_fields_only(bot: BotUnderTest) -> None:
    now = bot.clock()
    with Session(bot.rt.engine) as session:
        session.add(MaintenanceWindow(title="Database upgrade", starts_at=now + timedelta(days=2),
                                      ends_at=now + timedelta(days=2, hours=1), expected_impact="Read-only for 10 min",
                                      services='["checkout"]', created_by="U0BOB", created_at=now))
        session.add(MaintenanceWindow(title="Cancelled one", starts_at=now + timedelta(days=3),
                                      ends_at=now + timedelta(days=3, hours=1), status="cancelled",
                                      created_by="U0BOB", created_at=now))
        session.add(MaintenanceWindow(title="Automated daily cleanup", starts_at=now + timedelta(hours=5),
                                      ends_at=now + timedelta(hours=6), standing_key="daily", created_by="opsbot",
                                      created_at=now))
        session.commit()
    page, data = status(bot)
    titles = [w["title"] for w in data["scheduled_maintenance"]]
    assert "Database upgrade" in titles and "Cancelled one" not in titles
    assert "Automated daily cleanup" not in titles  # the standing daily window sends no notices: no user impact
    [window] = [w for w in data["scheduled_maintenance"] if w["title"] == "Database upgrade"]
    assert window["expected_impact"] == "Read-only for 10 min" and window["services"] == ["checkout"]
    assert "Database upgrade" in page and "U0BOB" not in page + json.dumps(data)


def test_notify_outside_an_incident_channel_or_with_a_bad_kind_is_refused(bot: BotUnderTest) -> None:
    assert "incident channel" in ephemeral(bot, COMMS, lambda: bot.slack.command(COMMS, "C0GENERAL", "/incident",
                                                                                 "notify"))
    channel = bot.declare()
    assert "Which notice?" in ephemeral(bot, COMMS, lambda: bot.slack.command(COMMS, channel, "/incident",
                                                                              "notify apology"))
    assert notices(bot) == []
