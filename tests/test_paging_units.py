"""Paging's pure parts: the `/oncall contact` parser (any text: a command or a message, never an
exception), acknowledge links (a changed digit, a stale link and a made-up one are refused), and
`paging.yaml` (every mistake names the file and the key)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import Help, ParseError
from bot.paging.commands import AddContact, ListContacts, RemoveContact, parse_contact
from bot.paging.links import LinkBad, LinkOk, LinkSigner, signing_key
from bot.paging.senders import from_pack
from bot.paging.service import repeat_every
from playbooks.check import check
from playbooks.loader import load_playbook
from playbooks.paging import EmailSettings, PagingSettings, SmsSettings

pytestmark = pytest.mark.kind("unit")
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(("text", "parsed"), [
    ("", ListContacts()),
    ("list", ListContacts()),
    ("help", Help()),
    ("remove 2", RemoveContact(2)),
    ("add email kim@Example.COM", AddContact("email", "kim@example.com")),
    ("add email <mailto:kim@example.com|kim@example.com>", AddContact("email", "kim@example.com")),
    ("add e-mail kim@example.com after 2m", AddContact("email", "kim@example.com", timedelta(minutes=2))),
    ("add ntfy kim-pager_7f3a", AddContact("ntfy", "kim-pager_7f3a")),
    ("add SMS +1 (555) 123-4567 after 5m", AddContact("sms", "+15551234567", timedelta(minutes=5))),
    ("add sms <tel:+15551234567|+1 555 123 4567> AFTER 1h", AddContact("sms", "+15551234567", timedelta(hours=1))),
])
def test_contact_commands(text: str, parsed: object) -> None:
    assert parse_contact(text) == parsed


@pytest.mark.parametrize(("text", "says"), [
    ("add fax 123", "Add which kind?"),
    ("add email kim", "not an e-mail address"),
    ("add ntfy kim's pager", "An ntfy topic is"),
    ("add ntfy https://ntfy.example.com/kim", "An ntfy topic is"),
    ("add sms 5551234567", "country code"),
    ("add sms +15551234567 after soon", "`after soon` is not a delay"),
    ("add email kim@example.com after 2d", "too late"),
    ("remove", "Which one?"),
    ("remove 0", "Which one?"),
    ("list everything", "takes nothing more"),
    ("page kim", "I don't know `/oncall contact page`"),
])
def test_contact_mistakes_say_how_to_write_it(text: str, says: str) -> None:
    parsed = parse_contact(text)
    assert isinstance(parsed, ParseError) and says in parsed.message


@given(st.text(max_size=300))
def test_any_text_is_a_command_or_a_message(text: str) -> None:
    parsed = parse_contact(text)
    assert isinstance(parsed, AddContact | ListContacts | RemoveContact | Help | ParseError)
    if isinstance(parsed, AddContact):
        assert parsed.address and " " not in parsed.address
        assert parsed.after is None or timedelta(0) <= parsed.after <= timedelta(hours=24)


@given(st.sampled_from(["email kim@example.com", "ntfy kim-pager", "sms +15551234567"]),
       st.integers(min_value=0, max_value=1440))
def test_a_delay_reads_back(address: str, minutes: int) -> None:
    parsed = parse_contact(f"add {address} after {minutes}m")
    assert isinstance(parsed, AddContact) and parsed.after == timedelta(minutes=minutes)


def test_links_are_signed_and_expire() -> None:
    links = LinkSigner(signing_key(None, "slack-signing-secret"), "https://opsbot.example.com/")
    url = links.url(42, NOW + timedelta(hours=24))
    assert url.startswith("https://opsbot.example.com/page/ack?t=42.")
    token = url.split("t=", 1)[1]
    assert links.check(token, NOW) == LinkOk(42)
    expired = links.check(token, NOW + timedelta(hours=25))
    assert isinstance(expired, LinkBad) and expired.status == 410 and "/incident ack" in expired.reason
    page, expires, signature = token.split(".")
    assert isinstance(forged := links.check(f"43.{expires}.{signature}", NOW), LinkBad) and forged.status == 403
    later = str(int(expires) + 86400)
    assert isinstance(stretched := links.check(f"{page}.{later}.{signature}", NOW), LinkBad)
    assert stretched.status == 403
    other = LinkSigner(signing_key("another-key", "x"), "https://opsbot.example.com")
    assert isinstance(theirs := links.check(other.token(42, NOW + timedelta(hours=1)), NOW), LinkBad)
    assert theirs.status == 403
    for junk in ("", "42", "42.abc.def", "<script>", "42." + expires + "." + signature + "x"):
        assert isinstance(bad := links.check(junk, NOW), LinkBad) and bad.status == 400


def test_the_derived_key_is_not_the_signing_secret() -> None:
    assert signing_key(None, "slack-signing-secret") != b"slack-signing-secret"
    assert signing_key("configured", "slack-signing-secret") == b"configured"


def test_the_bundled_pack_pages_by_ntfy_only_until_smtp_and_twilio_are_configured() -> None:
    senders = from_pack(load_playbook().paging, {})
    assert set(senders.by_kind) == {"ntfy"}
    assert "email.host" in senders.off["email"] and "sms.sender" in senders.off["sms"]
    no_ca = PagingSettings(email=EmailSettings(host="smtp.example.com", ca_file="/nonexistent/ca.pem"))
    assert "email.ca_file /nonexistent/ca.pem cannot be read" in from_pack(no_ca, {}).off["email"]
    sms = PagingSettings(sms=SmsSettings(sender="+15005550006"))
    assert from_pack(sms, {"TWILIO_ACCOUNT_SID": "AC1"}).off["sms"] == \
        "SMS paging is off here: TWILIO_AUTH_TOKEN is not set."


def test_paging_yaml_mistakes_name_the_file_and_the_key(tmp_path: Path) -> None:
    (tmp_path / "paging.yaml").write_text(
        "methods:\n  - {kind: email}\n  - {kind: email, after: 1m}\n  - {kind: sms}\n"
        "repeat_every: often\nemail:\n  hots: smtp.example.com\nsms:\n  sender: '5551234'\n"
        "retry:\n  attempts: 0\n")
    problems = {p.key: p.message for p in check(tmp_path)}
    assert all(p.file == str(tmp_path / "paging.yaml") for p in check(tmp_path))
    assert "email is listed twice" in problems["methods"]
    assert "not a duration" in problems["repeat_every"]
    assert "unknown key" in problems["email.hots"]
    assert "sms.sender" in problems and "retry.attempts" in problems


def test_an_escalation_level_may_set_its_own_repeat(tmp_path: Path) -> None:
    (tmp_path / "escalation.yaml").write_text(
        "- {level: 1, after: 0m, notify: ['@oncall'], repeat_every: 3m}\n"
        "- {level: 2, after: 15m, notify: ['@platform-ops-lead']}\n"
        "- {level: 3, after: 30m, notify: ['@cto']}\n- {level: 4, after: 60m, notify: ['@ceo']}\n")
    pack = load_playbook(tmp_path)
    assert repeat_every(pack, 1) == timedelta(minutes=3) and repeat_every(pack, 2) == timedelta(minutes=10)
