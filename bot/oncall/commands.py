"""`/oncall` text as typed commands, or a ``ParseError`` that says how to write it
(``bot.commands``). Times are read here as the person wrote them (local, without a zone); the
service places them in the schedule's time zone.

``contact …`` is paging's (``bot.paging.commands``): its parser reads the rest, and the typed
command comes back wrapped in ``Contact``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.commands import Help, ParseError, verb_and_rest
from bot.paging.commands import ContactCommand, parse_contact
from playbooks.durations import parse_duration

USAGE = """*`/oncall`* — who is on call
• `/oncall` — who is on call now and next, in each schedule
• `/oncall me` — your next shifts, and your calendar link
• `/oncall override @user <from> <to> [schedule]` — put someone on call, outranking the rota
• `/oncall swap @user <shift> [schedule]` — hand one of your shifts to someone
• `/oncall contact …` — how you are paged beyond Slack (`/oncall contact help`)
<from> is `now`, a date (2026-12-05) or a date and time (2026-12-05T18:00), in the schedule's time \
zone; <to> is a date, a date and time, or a duration (4h, 2d). <shift> is `next` or a date your shift \
covers (2026-12-05)."""
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_MOMENT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{1,2}):([0-9]{2}))?")
_SCHEDULE = re.compile(r"[a-z0-9][a-z0-9_-]{0,40}")
WHEN_HINT = "Write times like now, 2026-12-05 or 2026-12-05T18:00, and an end as one of those or a duration (4h)."
MAX_SPAN = timedelta(days=90)


@dataclass(frozen=True)
class Show:
    """``/oncall``: now and next in each schedule."""


@dataclass(frozen=True)
class Mine:
    """``/oncall me``."""


@dataclass(frozen=True)
class Override:
    user: str
    start: datetime | None  # local wall-clock time; None: now
    end: datetime | timedelta  # a local time, or a length from the start
    schedule: str | None


@dataclass(frozen=True)
class Swap:
    user: str
    shift: date | None  # a day the shift covers; None: the next shift
    schedule: str | None


@dataclass(frozen=True)
class Contact:
    """``/oncall contact …``: paging's own command (``bot.paging.commands``)."""

    command: ContactCommand


OncallCommand = Show | Mine | Override | Swap | Contact | Help | ParseError


def parse_moment(word: str) -> datetime | None:
    """``2026-12-05`` (midnight) or ``2026-12-05T18:00``; None when it is neither (or no real date)."""
    found = _MOMENT.fullmatch(word)
    if not found:
        return None
    y, m, d, hh, mm = found.groups()
    try:
        return datetime(int(y), int(m), int(d), int(hh or 0), int(mm or 0))
    except ValueError:
        return None


def _end(word: str) -> datetime | timedelta | None:
    moment = parse_moment(word)
    if moment is not None:
        return moment
    try:
        span = parse_duration(word.removeprefix("+"))
    except ValueError:
        return None
    return span if timedelta(0) < span <= MAX_SPAN else None


def _schedule(words: list[str], usage: str) -> tuple[str | None, ParseError | None]:
    if not words:
        return None, None
    if len(words) > 1 or not _SCHEDULE.fullmatch(words[0].lower()):
        return None, ParseError(f"Too many words. {usage}")
    return words[0].lower(), None


def parse_oncall(text: str | None) -> OncallCommand:
    verb, rest = verb_and_rest(text)
    if verb == "":
        return Show()
    if verb in ("help", "?"):
        return Help()
    if verb in ("me", "mine"):
        return Mine() if not rest else ParseError("`/oncall me` takes nothing more.")
    if verb == "contact":
        contact = parse_contact(rest)
        return contact if isinstance(contact, ParseError) else Contact(contact)
    if verb == "override":
        return _override(rest)
    if verb == "swap":
        return _swap(rest)
    return ParseError(f"I don't know `{verb[:30]}`.\n{USAGE}")


def _override(rest: str) -> Override | ParseError:
    usage = "Write `/oncall override @user <from> <to> [schedule]`."
    words = rest.split()
    if len(words) < 3:
        return ParseError(usage)
    found = _MENTION.fullmatch(words[0])
    if not found:
        return ParseError(f"Start with the person, as a mention (@someone). {usage}")
    start = None if words[1].lower() == "now" else parse_moment(words[1])
    if start is None and words[1].lower() != "now":
        return ParseError(f"`{words[1][:30]}` is not a time. {WHEN_HINT}")
    end = _end(words[2])
    if end is None:
        return ParseError(f"`{words[2][:30]}` is not an end (at most {MAX_SPAN.days} days). {WHEN_HINT}")
    if isinstance(end, datetime) and start is not None and end <= start:
        return ParseError("The end comes before the start.")
    schedule, error = _schedule(words[3:], usage)
    return error or Override(found.group(1), start, end, schedule)


def _swap(rest: str) -> Swap | ParseError:
    usage = "Write `/oncall swap @user <shift> [schedule]`; <shift> is next or a date (2026-12-05)."
    words = rest.split()
    if len(words) < 2:
        return ParseError(usage)
    found = _MENTION.fullmatch(words[0])
    if not found:
        return ParseError(f"Start with the person, as a mention (@someone). {usage}")
    shift: date | None = None
    if words[1].lower() != "next":
        moment = parse_moment(words[1])
        if moment is None or moment.time() != datetime.min.time() or "T" in words[1]:
            return ParseError(f"`{words[1][:30]}` is not a shift. {usage}")
        shift = moment.date()
    schedule, error = _schedule(words[2:], usage)
    return error or Swap(found.group(1), shift, schedule)
