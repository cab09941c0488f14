"""`/change` text → a typed command, or a ParseError that says how to write it (``bot.commands``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.commands import Help, ParseError

USAGE = """*`/change`* — change requests (procedures 5.2)
• `/change request` — open the change request form (Standard, Normal or Emergency)
• `/change list` — open requests first, then recent ones
• `/change show CR-2026-0001` — the request, its approvals and timeline
• `/change approve|start|done|rollback CR-2026-0001` — the same as the buttons in the request's thread
• `/change link CR-2026-0001 #incident-channel` (or `INC-0001`) — the change caused that incident
• `/change link CR-2026-0001 window 3` (or `MW-3`) — the change runs in maintenance window MW-3
• `/change help` — this text"""
_NUMBER = re.compile(r"CR-[0-9]{4}-[0-9]{4,}", re.IGNORECASE)
_CHANNEL = re.compile(r"<#(C[A-Z0-9]+)(?:\|[^>]*)?>")
_INCIDENT = re.compile(r"(?:INC-)?0*([0-9]{1,9})", re.IGNORECASE)
_WINDOW = re.compile(r"(?:window\s+(?:MW-)?|MW-)([0-9]{1,9})", re.IGNORECASE)
StepName = Literal["approve", "start", "done", "rollback"]
STEPS: tuple[StepName, ...] = ("approve", "start", "done", "rollback")


@dataclass(frozen=True)
class OpenRequestForm:
    pass


@dataclass(frozen=True)
class ListChanges:
    pass


@dataclass(frozen=True)
class Show:
    number: str


@dataclass(frozen=True)
class Step:
    step: StepName
    number: str


@dataclass(frozen=True)
class LinkIncident:
    number: str
    incident_id: int | None = None
    channel_id: str | None = None  # the incident's channel, when that is how it was named
    given: str = ""  # as typed, for the refusal when there is no such incident


@dataclass(frozen=True)
class LinkWindow:
    number: str
    window_id: int


Command = Help | OpenRequestForm | ListChanges | Show | Step | LinkIncident | LinkWindow


def parse(text: str) -> Command | ParseError:
    words = (text or "").split()
    verb = words[0].lower() if words else "help"
    if verb == "help":
        return Help()
    if verb == "request":
        return OpenRequestForm()
    if verb == "list":
        return ListChanges()
    if verb not in ("show", "link", *STEPS):
        return ParseError(f"`/change {verb[:40]}` is not something I know.\n{USAGE}")
    number = words[1] if len(words) > 1 else ""
    if not _NUMBER.fullmatch(number):
        return ParseError(f"Say which change request, like `/change {verb} CR-2026-0001`.")
    number = number.upper()
    if verb == "show":
        return Show(number)
    if verb == "link":
        return _link(number, " ".join(words[2:]))
    return Step(verb, number)  # type: ignore[arg-type]  # one of STEPS


def _link(number: str, target: str) -> Command | ParseError:
    """``#incident-channel`` (escaped by Slack), ``INC-0001``, an incident id, or ``window <id>`` /
    ``MW-<id>`` for a maintenance window."""
    if not target:
        return ParseError("Link to what? `/change link CR-… #incident-channel`, `INC-0001` or `window 3`.")
    window = _WINDOW.fullmatch(target)
    if window:
        return LinkWindow(number, int(window.group(1)))
    if target.lower().startswith(("window", "mw-")):
        return ParseError("Give the maintenance window's number, like `window 3` or `MW-3`.")
    channel = _CHANNEL.fullmatch(target)
    if channel:
        return LinkIncident(number, channel_id=channel.group(1), given=target)
    incident = _INCIDENT.fullmatch(target)
    if incident:
        return LinkIncident(number, incident_id=int(incident.group(1)), given=target)
    return ParseError(not_an_incident(target))


def not_an_incident(target: str) -> str:
    return (f"{target[:80]} is not an incident: give its channel (#incident-…), its reference (INC-0001) "
            "or `window <id>` for a maintenance window.")
