"""``/oncall contact …``: the text after ``contact`` as a typed command, or a ``ParseError`` that
says how to write it (``bot.commands``). Pure: any text can be property-tested.

Slack sends an e-mail address or a phone number typed in a command as a link
(``<mailto:kim@example.com|kim@example.com>``, ``<tel:+15551234567|+1 555 123 4567>``); the
address is read from inside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.commands import Help, ParseError, verb_and_rest
from playbooks.durations import format_duration, parse_duration
from playbooks.paging import KINDS, Kind

USAGE = """*`/oncall contact`* — how the bot pages you beyond Slack when an incident escalates to you
• `/oncall contact add email kim@example.com` — e-mail
• `/oncall contact add ntfy kim-pager-7f3a` — push to your ntfy topic (subscribe to it in the ntfy app)
• `/oncall contact add sms +15551234567 after 5m` — SMS, 5 minutes after the escalation
• `/oncall contact list` — yours, numbered, in the order they are paged
• `/oncall contact remove 2` — stop using number 2
Without `after`, the pack's delay for the kind applies. Pages repeat until someone acknowledges \
(the link in each page, or `/incident ack`)."""
MAX_AFTER = timedelta(hours=24)
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_LINK = re.compile(r"<(?:mailto:|tel:)?([^|>]*)(?:\|([^>]*))?>")
_AFTER = re.compile(r"(.*?)\s+after\s+(\S+)\s*", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class AddContact:
    kind: Kind
    address: str
    after: timedelta | None = None  # None: the pack's delay for the kind


@dataclass(frozen=True)
class ListContacts:
    pass


@dataclass(frozen=True)
class RemoveContact:
    number: int  # as `/oncall contact list` numbers them, from 1


ContactCommand = AddContact | ListContacts | RemoveContact | Help


def parse_contact(text: str) -> ContactCommand | ParseError:
    verb, rest = verb_and_rest(text)
    if verb in ("", "list", "ls"):
        return ListContacts() if not rest else ParseError("`/oncall contact list` takes nothing more.")
    if verb == "help":
        return Help()
    if verb in ("remove", "rm", "delete"):
        number = rest.lstrip("#")
        if not number.isdigit() or not 0 < int(number) < 1000:
            return ParseError("Which one? `/oncall contact remove 2`, with the number `/oncall contact list` shows.")
        return RemoveContact(int(number))
    if verb == "add":
        return _add(rest)
    return ParseError(f"I don't know `/oncall contact {verb[:40]}`. Try `/oncall contact help`.")


def _add(text: str) -> AddContact | ParseError:
    kind, rest = verb_and_rest(text)
    if kind in ("e-mail", "mail"):
        kind = "email"
    if kind in ("push", "phone-push"):
        kind = "ntfy"
    if kind not in KINDS:
        return ParseError("Add which kind? `/oncall contact add email|ntfy|sms <address> [after 5m]`.")
    after: timedelta | None = None
    found = _AFTER.fullmatch(rest)
    if found:
        rest = found.group(1)
        try:
            after = parse_duration(found.group(2).lower())
        except ValueError:
            return ParseError(f"`after {found.group(2)[:20]}` is not a delay; write it like `after 5m`.")
        if after > MAX_AFTER:
            return ParseError(f"A page later than {format_duration(MAX_AFTER)} after the escalation is too late; "
                              "write a shorter delay.")
    address = _unlinked(rest.strip())
    match kind:
        case "email":
            if not _EMAIL.fullmatch(address):
                return ParseError("That is not an e-mail address: `/oncall contact add email kim@example.com`.")
            local, _, domain = address.rpartition("@")
            return AddContact("email", f"{local}@{domain.lower()}", after)
        case "ntfy":
            if not _TOPIC.fullmatch(address):
                return ParseError("An ntfy topic is letters, digits, `-` and `_` (up to 64): "
                                  "`/oncall contact add ntfy kim-pager-7f3a`. Pick one hard to guess.")
            return AddContact("ntfy", address, after)
        case _:
            phone = re.sub(r"[\s().-]", "", address)
            if not _PHONE.fullmatch(phone):
                return ParseError("Write the number with its country code: `/oncall contact add sms +15551234567`.")
            return AddContact("sms", phone, after)


def _unlinked(text: str) -> str:
    """The address inside Slack's link markup, or the text as typed."""
    found = _LINK.fullmatch(text)
    return (found.group(2) or found.group(1)).strip() if found else text
