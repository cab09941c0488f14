"""Paging beyond Slack against a real SMTP server (aiosmtpd: STARTTLS with a certificate made here,
AUTH) and local stand-ins of ntfy's and Twilio's APIs (tests/support/paging_services.py): an
escalation pages the level's people through each contact in order and with its delay, repeats at
the level's interval until acknowledged, retries a failing method with backoff and says so in the
incident channel, and neither loses nor repeats a send across a restart."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.incidents import service as incidents
from bot.incidents.service import DeclareRequest
from bot.incidents.timers import IncidentTimers
from bot.logging import Redactor
from bot.paging import flows, senders
from bot.paging.commands import AddContact
from bot.paging.delivery import CLAIM_FOR, PageDelivery
from bot.paging.links import LinkSigner
from bot.paging.timers import PageTimers
from bot.work import UnitOfWork
from playbooks.loader import load_playbook
from playbooks.models import Playbook
from playbooks.paging import EmailSettings, NtfySettings, PagingSettings, RetrySettings, SmsSettings
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Incident, OutboundMessage, TimelineEntry
from storage.paging import CANCELLED, DUE, FAILED, SENT, PageSend
from tests.support.clock import FakeClock
from tests.support.directory import StaticDirectory
from tests.support.paging_services import NtfyStandIn, SmtpServer, TwilioStandIn

pytestmark = pytest.mark.kind("integration")
SMTP_PASSWORD = "smtp-pass-0123456789"
NTFY_TOKEN = "tk_ntfy0123456789abcdef"
TWILIO_SID, TWILIO_TOKEN = "AC" + "0123456789abcdef" * 2, "twilio-auth-token-0123456789"
FROM = "+15005550006"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SmtpServer, NtfyStandIn, TwilioStandIn]]:
    with SmtpServer(tmp_path_factory.mktemp("smtp"), "opsbot", SMTP_PASSWORD) as smtp, \
            NtfyStandIn(token=NTFY_TOKEN) as ntfy, TwilioStandIn(TWILIO_SID, TWILIO_TOKEN, (FROM,)) as twilio:
        yield smtp, ntfy, twilio


def paging_pack(smtp: SmtpServer, ntfy: NtfyStandIn, twilio: TwilioStandIn) -> Playbook:
    pack = load_playbook()
    paging = PagingSettings(
        repeat_every=timedelta(minutes=10), public_url="https://opsbot.example.com",
        email=EmailSettings(host="127.0.0.1", port=smtp.port, sender="pager@opsbot.example.com",
                            ca_file=str(smtp.ca_file)),
        ntfy=NtfySettings(server=ntfy.url), sms=SmsSettings(sender=FROM, api_url=twilio.url),
        retry=RetrySettings(attempts=3, first=timedelta(seconds=30), longest=timedelta(minutes=1)))
    return pack.model_copy(update={"paging": paging})


ENV = {"OPSBOT_SMTP_USERNAME": "opsbot", "OPSBOT_SMTP_PASSWORD": SMTP_PASSWORD, "OPSBOT_NTFY_TOKEN": NTFY_TOKEN,
       "TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN}


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database file that each test copies (migrating takes a second or so)."""
    database = tmp_path_factory.mktemp("db") / "template.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    engine.dispose()
    return database


class World:
    """One bot process's parts on a database; a second World on the same file is the process
    started again."""

    def __init__(self, database: Path | str, playbook: Playbook, clock: FakeClock) -> None:
        self.clock = clock
        self.engine = make_engine(database if isinstance(database, str) else f"sqlite:///{database}")
        self.work = UnitOfWork(self.engine, playbook, clock, StaticDirectory({"platform-ops-lead": {"U0BOB"}}),
                               redact=Redactor(tuple(ENV.values())))
        self.senders = senders.from_pack(playbook.paging, ENV)
        self.links = LinkSigner(b"k" * 32, "https://opsbot.example.com")
        self.delivery = PageDelivery(self.work, self.senders, self.links)
        self.pages = PageTimers(self.work)
        self.incidents = IncidentTimers(self.work)

    def contact(self, user: str, kind: str, address: str, after: timedelta | None = None) -> str:
        return flows.contact(self.work, self.senders, user, AddContact(kind, address, after))  # type: ignore[arg-type]

    def declare(self, severity: str = "P1") -> int:
        def declare(ctx: Any) -> int:
            incident, _ = incidents.declare(ctx, DeclareRequest(severity, "Checkout is failing", "U0ALICE"))
            incident.channel_id, incident.channel_name = "C0INC", "incident-20261128-0930"
            return incident.id
        return self.work(declare)

    def tick(self) -> int:
        """The scheduler's part: due escalations and repeats, then the background's sends."""
        self.incidents.run_due()
        self.pages.run_due()
        return self.delivery.run_due()

    def sends(self) -> list[PageSend]:
        return self.work(lambda ctx: list(ctx.session.exec(select(PageSend).order_by(PageSend.id)).all()))

    def said(self, purpose: str) -> list[str]:
        return self.work(lambda ctx: [str(json.loads(m.args)["text"]) for m in ctx.session.exec(
            select(OutboundMessage).where(OutboundMessage.purpose == purpose)).all()])

    def timeline(self) -> list[str]:
        return self.work(lambda ctx: [e.text for e in ctx.session.exec(select(TimelineEntry)).all()])

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def database(tmp_path: Path, migrated: Path, services: tuple[SmtpServer, NtfyStandIn, TwilioStandIn]) -> Path:
    """A fresh database, and the services' inboxes emptied."""
    smtp, ntfy, twilio = services
    for server in (ntfy, twilio):
        server.messages.clear()
    smtp.received.clear()
    return Path(shutil.copy(migrated, tmp_path / "opsbot.db"))


@pytest.fixture
def world(database: Path, services: tuple[SmtpServer, NtfyStandIn, TwilioStandIn]) -> Iterator[World]:
    built = World(database, paging_pack(*services), FakeClock())
    yield built
    built.close()


def test_an_escalation_pages_each_contact_in_order_with_its_delay_until_acknowledged(
        world: World, services: tuple[SmtpServer, NtfyStandIn, TwilioStandIn]) -> None:
    smtp, ntfy, twilio = services
    world.contact("U0BOB", "sms", "+15551230001")  # the pack's delay for SMS: 5m
    world.contact("U0BOB", "email", "bob@example.com")
    world.contact("U0BOB", "ntfy", "bob-pager-7f3a")
    incident_id = world.declare("P1")  # P1 starts at level 2: @platform-ops-lead is bob
    assert world.tick() == 2
    assert [s.kind for s in world.sends()] == ["ntfy", "email", "sms"]  # the pack's order, then delays

    [mail] = smtp.received
    assert mail.over_tls and mail.login == "opsbot" and mail.recipients == ["bob@example.com"]
    assert mail.message["Subject"] == "[opsbot] INC-0001 P1 - High: Checkout is failing"
    assert mail.message["From"] == "pager@opsbot.example.com"
    body = mail.message.get_content()
    assert "Escalation level 2" in body and "https://opsbot.example.com/page/ack?t=1." in body
    [push] = ntfy.messages
    assert push["topic"] == "bob-pager-7f3a" and push["priority"] == 5 and push["title"].startswith("INC-0001")
    assert push["click"].startswith("https://opsbot.example.com/page/ack?t=")
    assert push["actions"] == [{"action": "http", "label": "Acknowledge", "url": push["click"], "method": "POST",
                                "clear": True}]
    assert twilio.messages == []

    world.clock.advance(timedelta(minutes=5))
    assert world.tick() == 1
    [sms] = twilio.messages
    assert (sms["to"], sms["from"]) == ("+15551230001", FROM)
    assert sms["body"].startswith("INC-0001 P1 - High: Checkout is failing. Escalation level 2, page 1. "
                                  "Ack: https://opsbot.example.com/page/ack?t=1.")
    assert len(sms["body"]) <= 160  # one SMS segment

    world.clock.advance(timedelta(minutes=5))  # the level's interval: page 2
    assert world.tick() == 2 and len(smtp.received) == 2 and "Page 2" in ntfy.messages[-1]["message"]

    page_id = world.sends()[0].page_id
    said = flows.acknowledge(world.work, page_id)
    assert said is not None and said.startswith("Acknowledged INC-0001")
    assert world.work(lambda ctx: ctx.session.get(Incident, incident_id).acknowledged_by) == "U0BOB"
    assert "Page acknowledged by <@U0BOB> (escalation level 2) from its link; the repeat pages stopped" \
        in world.timeline()
    assert [s.state for s in world.sends()][-1] == CANCELLED  # round 2's SMS, due in 5m, will not go
    world.clock.advance(timedelta(minutes=30))
    assert world.tick() == 0 and len(smtp.received) == 2 and len(twilio.messages) == 1
    assert flows.acknowledge(world.work, page_id) == "Already acknowledged: the pages for this incident have stopped."


def test_a_failing_method_is_retried_with_backoff_and_reported_in_the_channel(
        world: World, services: tuple[SmtpServer, NtfyStandIn, TwilioStandIn]) -> None:
    smtp, ntfy, _twilio = services
    world.contact("U0BOB", "email", "bob@example.com")
    world.contact("U0BOB", "ntfy", "bob-pager-7f3a")
    smtp.refuse_next(1)
    ntfy.fail_next(3, status=503)
    world.declare("P1")
    assert world.tick() == 0
    [pushed, first] = world.said("page_failed")  # in the contacts' order: ntfy, then e-mail
    assert "<@U0BOB> by ntfy push (bob-pager-7f3a) failed: ntfy: HTTP 503 Service Unavailable" in pushed
    assert "<@U0BOB> by e-mail (bob@example.com) failed: SMTP 127.0.0.1: 451 4.3.0 Try again later" in first
    assert "Trying again in 30s" in first
    assert world.tick() == 0  # backing off, not tried again at once
    world.clock.advance(timedelta(seconds=30))
    assert world.tick() == 1 and len(smtp.received) == 1  # the e-mail went on its second try
    world.clock.advance(timedelta(minutes=1))
    assert world.tick() == 0  # ntfy's third failure: given up
    ntfy_send = next(s for s in world.sends() if s.kind == "ntfy")
    assert (ntfy_send.state, ntfy_send.attempts) == (FAILED, 3) and "ntfy: HTTP 503" in (ntfy_send.error or "")
    said = world.said("page_failed")
    assert len(said) == 3 and "failed 3 times; I gave up on page 1 there" in said[-1]
    assert not any(secret in text for text in said for secret in ENV.values())


def test_a_refused_login_is_reported_without_the_password(
        database: Path, services: tuple[SmtpServer, NtfyStandIn, TwilioStandIn]) -> None:
    smtp, _ntfy, _twilio = services
    world = World(database, paging_pack(*services), FakeClock())
    world.senders = senders.from_pack(world.work.playbook.paging, {**ENV, "OPSBOT_SMTP_PASSWORD": "wrong-password"})
    world.delivery = PageDelivery(world.work, world.senders, world.links)
    world.contact("U0BOB", "email", "bob@example.com")
    world.declare("P1")
    assert world.tick() == 0 and ("opsbot", False) in smtp.logins
    [said] = world.said("page_failed")
    assert "535" in said and "wrong-password" not in said and SMTP_PASSWORD not in said
    world.close()


def test_a_page_due_while_the_bot_was_down_is_sent_once_after_restart(
        database: Path, services: tuple[SmtpServer, NtfyStandIn, TwilioStandIn]) -> None:
    smtp, ntfy, _twilio = services
    clock, playbook = FakeClock(), paging_pack(*services)
    before = World(database, playbook, clock)
    before.contact("U0BOB", "email", "bob@example.com")
    before.contact("U0BOB", "ntfy", "bob-pager-7f3a", after=timedelta(minutes=1))
    before.declare("P1")
    before.incidents.run_due()  # the escalation is recorded with its pages, due now and in 1m
    # the process that claimed the e-mail died before it sent it (or before it recorded sending it)
    [email_send] = [s for s in before.sends() if s.kind == "email"]
    assert before.work(lambda ctx: before.delivery._claim(ctx, email_send.id, email_send.due_at)) is not None
    before.close()

    clock.advance(timedelta(seconds=90))  # down meanwhile: the push fell due too
    after = World(database, playbook, clock)
    assert after.tick() == 1 and len(ntfy.messages) == 1 and smtp.received == []  # the claim still holds
    clock.advance(CLAIM_FOR)
    assert after.tick() == 1 and len(smtp.received) == 1  # the lapsed claim: sent, not lost
    assert after.tick() == 0 and [s.state for s in after.sends()] == [SENT, SENT]
    second = World(database, playbook, clock)  # a replica ticking too finds nothing more to send
    assert second.tick() == 0 and len(smtp.received) == 1 and len(ntfy.messages) == 1
    after.close()
    second.close()


def test_acknowledging_in_slack_or_resolving_stops_the_pages(world: World) -> None:
    world.contact("U0BOB", "sms", "+15551230001", after=timedelta(minutes=1))
    incident_id = world.declare("P1")
    world.incidents.run_due()
    assert [s.state for s in world.sends()] == [DUE]
    world.work(lambda ctx: incidents.acknowledge(ctx, ctx.session.get(Incident, incident_id), "U0CAROL"))
    assert [s.state for s in world.sends()] == [CANCELLED]
    world.contact("U0CTO", "email", "cto@example.com")
    world.work.directory = StaticDirectory({"platform-ops-lead": {"U0BOB"}, "cto": {"U0CTO"}})
    world.clock.advance(timedelta(minutes=30))  # level 3 (30m) after acknowledgement: its people are paged
    assert world.tick() == 1 and world.sends()[-1].address == "cto@example.com"
    assert [s.state for s in world.sends()] == [CANCELLED, SENT]  # bob's page did not repeat: acknowledged
    said = world.work(lambda ctx: incidents.acknowledge(ctx, ctx.session.get(Incident, incident_id), "U0CAROL"))
    assert said == "Already acknowledged by <@U0CAROL>; the repeat pages have stopped."
    world.clock.advance(timedelta(minutes=30))
    assert world.tick() == 0 and len(world.sends()) == 2

    resolved = world.declare("P1")
    world.incidents.run_due()
    world.work(lambda ctx: incidents.resolve(ctx, ctx.session.get(Incident, resolved), "Fixed", "U0CAROL"))
    world.clock.advance(timedelta(minutes=30))
    assert world.tick() == 0  # the SMS due and the repeat: neither goes out for a resolved incident
    assert [s.state for s in world.sends()] == [CANCELLED, SENT, CANCELLED]


def test_contacts_are_listed_in_paging_order_and_a_removed_one_is_not_paged(world: World) -> None:
    world.contact("U0BOB", "sms", "+15551230001")
    world.contact("U0BOB", "email", "bob@example.com", after=timedelta(minutes=2))
    world.contact("U0BOB", "ntfy", "bob-pager-7f3a")
    listing = flows.contact(world.work, world.senders, "U0BOB", flows.cmd.ListContacts())
    assert listing.splitlines()[1:] == [
        "1. ntfy push bob-pager-7f3a, at once (the pack's delay)",
        "2. e-mail bob@example.com, 2m after the escalation",
        "3. SMS +15551230001, 5m after the escalation (the pack's delay)"]
    world.declare("P1")
    world.incidents.run_due()
    removed = flows.contact(world.work, world.senders, "U0BOB", flows.cmd.RemoveContact(3))
    assert removed.startswith("Removed SMS +15551230001.")
    assert [s.state for s in world.sends()] == [DUE, DUE, CANCELLED]
    with pytest.raises(Exception, match="already have e-mail bob@example.com"):
        world.contact("U0BOB", "email", "bob@example.com")


def test_two_replicas_on_postgresql_send_each_step_once(
        postgres_url: str, services: tuple[SmtpServer, NtfyStandIn, TwilioStandIn]) -> None:
    smtp, ntfy, twilio = services
    for inbox in (smtp.received, ntfy.messages, twilio.messages):
        inbox.clear()
    engine = make_engine(postgres_url)
    upgrade(engine)
    engine.dispose()
    clock, playbook = FakeClock(), paging_pack(*services)
    one, two = World(postgres_url, playbook, clock), World(postgres_url, playbook, clock)
    for kind, address in (("email", "bob@example.com"), ("ntfy", "bob-pager-7f3a"), ("sms", "+15551230001")):
        one.contact("U0BOB", kind, address, after=timedelta(0))
    one.declare("P1")
    with ThreadPoolExecutor(4) as pool:
        for _round in range(3):  # the first page, then two repeats, both replicas ticking at once
            sent = list(pool.map(lambda world: world.tick(), [one, two, one, two]))
            assert sum(sent) == 3
            clock.advance(timedelta(minutes=10))
    assert (len(smtp.received), len(ntfy.messages), len(twilio.messages)) == (3, 3, 3)
    assert [s.round for s in one.sends()] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    one.close()
    two.close()
