"""Paging beyond Slack through the running bot: people set their contacts with `/oncall contact`
(signed slash commands from the sandbox Slack), an escalation pages them by e-mail (a real SMTP
server with STARTTLS and AUTH) and ntfy push (a local stand-in), and the acknowledge link the page
carries is served by the bot: a GET only shows the confirmation, the POST acknowledges and stops
the repeat pages; a stale, changed or made-up link is refused with a 4xx."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from storage.models import Incident, TimelineEntry
from tests.support.bot import BotUnderTest, running_bot
from tests.support.clock import FakeClock
from tests.support.paging_services import NtfyStandIn, SmtpServer
from tests.support.waiting import eventually

pytestmark = pytest.mark.kind("e2e")
SMTP_PASSWORD = "smtp-pass-e2e-0123456789"


@pytest.fixture
def paged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[BotUnderTest, SmtpServer, NtfyStandIn]]:
    monkeypatch.setenv("OPSBOT_SMTP_USERNAME", "opsbot")
    monkeypatch.setenv("OPSBOT_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.delenv("OPSBOT_NTFY_TOKEN", raising=False)
    with SmtpServer(tmp_path, "opsbot", SMTP_PASSWORD) as smtp, NtfyStandIn() as ntfy:
        pack = tmp_path / "pack"
        pack.mkdir()
        (pack / "paging.yaml").write_text(
            f"repeat_every: 5m\nemail: {{host: 127.0.0.1, port: {smtp.port}, ca_file: '{smtp.ca_file}'}}\n"
            f"ntfy: {{server: '{ntfy.url}'}}\n")
        with running_bot(tmp_path, f"sqlite:///{tmp_path}/opsbot.db", FakeClock(), playbooks=pack) as bot:
            yield bot, smtp, ntfy


def test_contacts_then_a_page_acknowledged_from_its_link(paged: tuple[BotUnderTest, SmtpServer, NtfyStandIn]) -> None:
    bot, smtp, ntfy = paged
    email = "<mailto:bob@example.com|bob@example.com>"  # as Slack sends an address typed in a command
    said = bot.slack.command("U0BOB", "C0GENERAL", "/oncall", f"contact add email {email}")
    assert said.status == 200 and "Added." in said.body and "1. e-mail bob@example.com, at once" in said.body
    said = bot.slack.command("U0BOB", "C0GENERAL", "/oncall", "contact add ntfy bob-pager-7f3a after 1m")
    assert "2. ntfy push bob-pager-7f3a, 1m after the escalation" in said.body
    said = bot.slack.command("U0BOB", "C0GENERAL", "/oncall", "contact add sms +15551230001")
    assert "SMS paging is off here" in said.body  # the pack names no Twilio number
    assert "I don't know `/oncall contact fax`" in bot.slack.command("U0BOB", "C0GENERAL", "/oncall",
                                                                     "contact fax 1").body

    channel = bot.declare("declare P1 Checkout is failing")  # P1 starts at level 2, @platform-ops-lead: bob
    bot.tick()
    mail = eventually(lambda: smtp.received[:1], what="the page by e-mail")[0]
    assert mail.over_tls and mail.login == "opsbot" and mail.recipients == ["bob@example.com"]
    assert ntfy.messages == []  # bob asked for the push a minute later
    link = re.search(r"http://127\.0\.0\.1:[0-9]+/page/ack\?t=\S+", mail.message.get_content())
    assert link is not None and link.group(0).startswith(bot.url)

    shown = httpx.get(link.group(0))
    assert shown.status_code == 200 and "<form method=post action='/page/ack'>" in shown.text
    assert "You were paged for escalation level 2" in shown.text and shown.headers["cache-control"] == "no-store"
    assert _incident(bot).acknowledged_at is None  # a GET (a link scanner's) acknowledges nothing

    bot.clock.advance(timedelta(minutes=1))
    bot.tick()
    push = eventually(lambda: ntfy.messages[:1], what="the push")[0]
    assert push["topic"] == "bob-pager-7f3a" and push["click"].startswith(f"{bot.url}/page/ack?t=")

    token = link.group(0).split("t=", 1)[1]
    acked = httpx.post(f"{bot.url}/page/ack", data={"t": token})
    assert acked.status_code == 200 and "Acknowledged INC-0001" in acked.text
    assert _incident(bot).acknowledged_by == "U0BOB"
    assert any("Page acknowledged by <@U0BOB>" in text for text in _timeline(bot))
    bot.settle()
    texts = bot.texts(channel)
    assert ":white_check_mark: <@U0BOB> acknowledged the incident." in texts
    assert any(":pager: Paging <@U0BOB> beyond Slack until someone acknowledges" in text for text in texts)
    again = httpx.post(f"{bot.url}/page/ack?t={token}")  # ntfy's Acknowledge action: the token in the query
    assert again.status_code == 200 and "Already acknowledged" in again.text

    bot.clock.advance(timedelta(minutes=20))  # four intervals: no page repeats once acknowledged
    bot.tick()
    bot.rt.paging.run()
    assert len(smtp.received) == 1 and len(ntfy.messages) == 1

    listed = bot.slack.command("U0BOB", "C0GENERAL", "/oncall", "contact list").body
    assert "1. e-mail bob@example.com, at once" in listed and "2. ntfy push bob-pager-7f3a" in listed
    removed = bot.slack.command("U0BOB", "C0GENERAL", "/oncall", "contact remove 2").body
    assert "Removed ntfy push bob-pager-7f3a." in removed and "bob-pager" not in removed.split("\n", 1)[1]
    assert "no contact number 5" in bot.slack.command("U0BOB", "C0GENERAL", "/oncall", "contact remove 5").body

    page, expires, signature = token.split(".")
    assert httpx.get(f"{bot.url}/page/ack", params={"t": f"{int(page) + 1}.{expires}.{signature}"}).status_code == 403
    assert httpx.post(f"{bot.url}/page/ack", data={"t": "nonsense"}).status_code == 400
    assert httpx.post(f"{bot.url}/page/ack").status_code == 400
    bot.clock.advance(timedelta(hours=24))
    stale = httpx.get(link.group(0))
    assert stale.status_code == 410 and "/incident ack" in stale.text


def _incident(bot: BotUnderTest) -> Incident:
    with Session(bot.engine) as session:
        return session.exec(select(Incident)).one()


def _timeline(bot: BotUnderTest) -> list[str]:
    with Session(bot.engine) as session:
        return [e.text for e in session.exec(select(TimelineEntry)).all()]
