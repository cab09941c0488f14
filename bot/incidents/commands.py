"""`/incident` command text → a typed command, or a ParseError that says how to write it
(``bot.commands``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.commands import Help, ParseError, verb_and_rest
from bot.followups.commands import DUE_HINT, Due, parse_due
from playbooks.models import SEVERITY_KEYS

MAX_TITLE = 150
MAX_TEXT = 2900
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")

USAGE = """\
*`/incident` commands*
• `/incident declare P0|P1|P2|P3 <title>`: declare an incident (or `/incident` alone for a form)
In an incident channel:
• `/incident assign <role> @user`: roles are commander, tech lead, comms lead, scribe
• `/incident ack`: acknowledge the incident
• `/incident update <text>`: post a status update (`/incident update` alone opens the form; \
`status: Mitigating; impact: ...; actions: ...; eta: ...` fills the template)
• `/incident severity P0-P3`: change the severity
• `/incident note <text>`: add a note to the timeline (`/incident note at 14:05 <text>` backdates it; \
`note at 2026-11-28 23:50 <text>` for another day)
• `/incident timeline`: the timeline so far (a :pushpin: on a message in this channel adds it)
• `/incident phase <name>`: move to a phase (detect, classify, contain, investigate, remediate, verify, \
document, postmortem)
• `/incident status`: where the incident stands
• `/incident resolve <summary>`: resolve it
• `/incident postmortem`: draft the post-mortem (the channel's canvas); again later to bring in what is new
• `/incident followup @owner <due> <text>`: an action item (due: 2026-12-05, tomorrow, friday, 3d); \
alone it opens a form
• `/incident notify [initial|resolution]`: draft a customer notice (Communications Lead; \
the Incident Commander approves it for the status page)
• `/incident report [7d|30d|90d]`: how we responded (times to acknowledge and resolve, updates, escalations, \
follow-ups, changes, backups; only you see it)
Anywhere: `/incident list`, `/incident help`, and `/followups` for action items"""


@dataclass(frozen=True)
class OpenDeclareModal:
    pass


@dataclass(frozen=True)
class Declare:
    severity: str
    title: str


@dataclass(frozen=True)
class Assign:
    role: str
    user_id: str


@dataclass(frozen=True)
class Acknowledge:
    pass


@dataclass(frozen=True)
class OpenUpdateModal:
    pass


@dataclass(frozen=True)
class UpdateFields:
    status: str | None = None
    impact: str | None = None
    actions: str | None = None
    eta: str | None = None


@dataclass(frozen=True)
class PostUpdate:
    fields: UpdateFields


@dataclass(frozen=True)
class ChangeSeverity:
    severity: str


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class NoteAt:
    """A note backdated to ``hour:minute`` (pack time zone) of ``day``, or of the latest such time
    that is not in the future."""

    hour: int
    minute: int
    text: str
    day: date | None = None


@dataclass(frozen=True)
class ShowTimeline:
    pass


@dataclass(frozen=True)
class AddFollowUp:
    owner: str
    due: Due
    text: str


@dataclass(frozen=True)
class OpenFollowUpForm:
    pass


@dataclass(frozen=True)
class SetPhase:
    phase: str


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class Resolve:
    summary: str


@dataclass(frozen=True)
class DraftPostmortem:
    pass


@dataclass(frozen=True)
class OpenNoticeModal:
    kind: str  # initial | resolution


@dataclass(frozen=True)
class ListIncidents:
    pass


REPORT_PERIODS = {"7d": 7, "30d": 30, "90d": 90}


@dataclass(frozen=True)
class ShowReport:
    days: int = 7


ChannelCommand = (Assign | Acknowledge | PostUpdate | ChangeSeverity | SetPhase | Status | Resolve | DraftPostmortem
                  | NoteAt | ShowTimeline | AddFollowUp)
"""What is typed in an incident's channel and changes (or reads) that incident (``service.carry_out``)."""
Command = (OpenDeclareModal | Declare | OpenUpdateModal | OpenNoticeModal | OpenFollowUpForm | ListIncidents
           | ShowReport | Help | Note | ChannelCommand)

def parse(text: str) -> Command | ParseError:
    verb, rest = verb_and_rest(text)
    if not verb:
        return OpenDeclareModal()
    parser = _VERBS.get(verb)
    if parser is None:
        return ParseError(f"I don't know `/incident {verb[:40]}`. Try `/incident help`.")
    return parser(rest)


def parse_severity(text: str) -> str | None:
    value = text.strip().upper()
    return value if value in SEVERITY_KEYS else None


def _severity_error(given: str) -> ParseError:
    return ParseError(f"`{given[:20]}` is not a severity; use P0, P1, P2 or P3. "
                      "Example: `/incident declare P1 Checkout is failing`")


def _declare(rest: str) -> Command | ParseError:
    if not rest:
        return OpenDeclareModal()
    first, _, title = rest.partition(" ")
    severity = parse_severity(first)
    if severity is None:
        return _severity_error(first)
    title = " ".join(title.split())
    if not title:
        return ParseError("Give the incident a title: `/incident declare P1 Checkout is failing`")
    if len(title) > MAX_TITLE:
        return ParseError(f"The title is {len(title)} characters; keep it under {MAX_TITLE}.")
    return Declare(severity, title)


def _assign(rest: str) -> Command | ParseError:
    usage = "Write it as `/incident assign <role> @user`, e.g. `/incident assign commander @alice`."
    mentions = list(_MENTION.finditer(rest))
    if not mentions:
        if "@" in rest:
            return ParseError("That is not a user mention: pick the person from Slack's @ menu. " + usage)
        return ParseError("Name the person with an @mention. " + usage)
    match = mentions[-1]
    role = (rest[: match.start()] + rest[match.end():]).strip()
    if not role:
        return ParseError("Which role? " + usage)
    return Assign(" ".join(role.split()), match.group(1))


_FIELD = re.compile(r"^\s*(status|impact|actions?|eta)\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)


def parse_update_fields(text: str) -> UpdateFields:
    """``status: X; impact: Y`` fills those fields; plain text is what we are doing (Actions)."""
    found: dict[str, str] = {}
    for part in re.split(r"[;\n]", text):
        m = _FIELD.match(part)
        if m:
            key = m.group(1).lower().rstrip("s") if m.group(1).lower().startswith("action") else m.group(1).lower()
            found["actions" if key == "action" else key] = m.group(2).strip()[:MAX_TEXT]
    if not found:
        return UpdateFields(actions=text.strip()[:MAX_TEXT])
    return UpdateFields(**found)


def _update(rest: str) -> Command | ParseError:
    if not rest:
        return OpenUpdateModal()
    return PostUpdate(parse_update_fields(rest))


def _severity(rest: str) -> Command | ParseError:
    if not rest:
        return ParseError("Which severity? `/incident severity P2`")
    severity = parse_severity(rest)
    return ChangeSeverity(severity) if severity else _severity_error(rest)


def _text_command(kind: type, usage: str) -> object:
    def parser(rest: str) -> Command | ParseError:
        if not rest:
            return ParseError(usage)
        if len(rest) > MAX_TEXT:
            return ParseError(f"That is {len(rest)} characters; keep it under {MAX_TEXT}.")
        return kind(rest)

    return parser


_NOTE_AT = re.compile(r"at\s+(?:([0-9]{4})-([0-9]{2})-([0-9]{2})\s+)?([0-9]{1,2}):([0-9]{2})(?:\s+(.*))?$",
                      re.IGNORECASE | re.DOTALL)
NOTE_USAGE = "What should the note say? `/incident note Restarted the API pods` (or `note at 14:05 …`)"


def _note(rest: str) -> Command | ParseError:
    if not rest:
        return ParseError(NOTE_USAGE)
    if len(rest) > MAX_TEXT:
        return ParseError(f"That is {len(rest)} characters; keep it under {MAX_TEXT}.")
    found = _NOTE_AT.match(rest)
    if not found:
        return Note(rest)
    year, month, day, hour, minute, text = found.groups()
    if not (text or "").strip():
        return ParseError("What happened at that time? `/incident note at 14:05 First alert fired`")
    if int(hour) > 23 or int(minute) > 59:
        return ParseError(f"`{hour}:{minute}` is not a time of day; write it like 14:05.")
    try:
        on = date(int(year), int(month), int(day)) if year else None
    except ValueError:
        return ParseError(f"`{year}-{month}-{day}` is not a date; write it like 2026-11-28.")
    return NoteAt(int(hour), int(minute), text.strip(), on)


def _followup(rest: str) -> Command | ParseError:
    usage = ("Write it as `/incident followup @owner <due> <text>`, "
             "e.g. `/incident followup @alice friday Add an alert`.")
    if not rest:
        return OpenFollowUpForm()
    found = _MENTION.match(rest)
    if not found:
        return ParseError(("That is not a user mention: pick the person from Slack's @ menu. " if "@" in rest
                           else "Start with the owner's @mention. ") + usage)
    due_word, _, text = rest[found.end():].strip().partition(" ")
    due = parse_due(due_word)
    if due is None:
        return ParseError(f"`{due_word[:30]}` is not a due date. {DUE_HINT}")
    text = " ".join(text.split())
    if not text:
        return ParseError("What is to be done? " + usage)
    if len(text) > MAX_TITLE * 2:
        return ParseError(f"The action is {len(text)} characters; keep it under {MAX_TITLE * 2}.")
    return AddFollowUp(found.group(1), due, text)


def _no_args(kind: type) -> object:
    return lambda rest: kind()


def _notify(rest: str) -> Command | ParseError:
    kind = rest.strip().lower() or "initial"
    if kind not in ("initial", "resolution"):
        return ParseError("Which notice? `/incident notify initial` or `/incident notify resolution`.")
    return OpenNoticeModal(kind)


def _report(rest: str) -> Command | ParseError:
    period = rest.strip().lower() or "7d"
    if period not in REPORT_PERIODS:
        return ParseError(f"`{period[:20]}` is not a period I report on; use `/incident report 7d`, `30d` or `90d`.")
    return ShowReport(REPORT_PERIODS[period])


def _phase(rest: str) -> Command | ParseError:
    if not rest:
        return ParseError("Which phase? `/incident phase contain`")
    return SetPhase(rest[:60])


_VERBS = {
    "declare": _declare,
    "assign": _assign,
    "ack": _no_args(Acknowledge),
    "acknowledge": _no_args(Acknowledge),
    "update": _update,
    "severity": _severity,
    "sev": _severity,
    "note": _note,
    "timeline": _no_args(ShowTimeline),
    "followup": _followup,
    "follow-up": _followup,
    "phase": _phase,
    "status": _no_args(Status),
    "resolve": _text_command(Resolve, "Say how it was resolved: `/incident resolve Rolled back release 42`"),
    "postmortem": _no_args(DraftPostmortem),
    "post-mortem": _no_args(DraftPostmortem),
    "notify": _notify,
    "list": _no_args(ListIncidents),
    "report": _report,
    "help": _no_args(Help),
}
