"""iCalendar feeds of the final schedule (``GET /oncall.ics``), one per schedule and one per person,
behind a secret link: the query names the schedule or the person and carries an HMAC of that name,
so a link can be handed to a calendar app (which cannot sign in) without letting anyone read any
other feed. The key is derived from the bot's token, which never leaves the server; a new token
makes new links.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from icalendar import Calendar, Event

from bot.oncall.rota import Segment
from bot.signing import derived_key, mac


def feed_key(secret: str) -> bytes:
    """The signing key, derived so the token itself is never what signs a link."""
    return derived_key(secret, "opsbot on-call feed v1")


def signature(key: bytes, subject: str) -> str:
    return mac(key, subject).hex()


def subject(*, schedule: str | None = None, user: str | None = None) -> str:
    return f"schedule:{schedule}" if schedule else f"user:{user}"


def link(base: str, key: bytes, *, schedule: str | None = None, user: str | None = None) -> str:
    query = {"schedule": schedule} if schedule else {"user": user}
    query["sig"] = signature(key, subject(schedule=schedule, user=user))
    return f"{base}?{urlencode(query)}"


def verified(key: bytes, query: dict[str, str]) -> str | None:
    """The subject a request's query names, if its signature is right (compared in constant time)."""
    schedule, user, sig = query.get("schedule"), query.get("user"), query.get("sig", "")
    if bool(schedule) == bool(user):
        return None
    wanted = subject(schedule=schedule, user=user)
    return wanted if hmac.compare_digest(signature(key, wanted), sig) else None


@dataclass(frozen=True)
class Entry:
    """One stretch on call, as a calendar event."""

    schedule: str
    segment: Segment


def calendar(name: str, entries: Iterable[Entry], now: datetime) -> bytes:
    """An RFC 5545 calendar; each stretch is an event with a UID stable across fetches, so
    calendar apps update events in place rather than duplicating them."""
    cal = Calendar()
    cal.add("prodid", "-//opsbot//on-call//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    for entry in entries:
        seg = entry.segment
        who = seg.user
        event = Event()
        event.add("uid", f"{entry.schedule}-{seg.user}-{seg.start:%Y%m%dT%H%M%SZ}@opsbot")
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", seg.start.astimezone(UTC))
        event.add("dtend", seg.end.astimezone(UTC))
        event.add("summary", f"On call: {entry.schedule} ({who})")
        event.add("description", f"{who} is on call for {entry.schedule}" + (" (override)" if seg.source < 0 else ""))
        cal.add_component(event)
    return cal.to_ical()
