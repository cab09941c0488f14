"""`/maintenance` text → a typed command, or a ParseError that says how to write it
(``bot.commands``). One command covers maintenance mode (``enable``, ``disable``, ``status``) and
maintenance windows (``schedule``, ``windows``, ``cancel``, ``move``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.commands import Help, ParseError, verb_and_rest
from bot.ops.maintenance.page import ETA_PATTERN

_ETA = re.compile(ETA_PATTERN)
REASON_LIMIT = 200

SUBCOMMANDS = {
    "enable": "`/maintenance enable [reason…] [eta]` — maintenance page up (503), jobs drained, consumers "
              "stopped, backup, flag; eta like `23:00` or `2h` (1 approval)",
    "disable": "`/maintenance disable` — normal site back, jobs and scheduler restarted, health checked (1 approval)",
    "status": "`/maintenance status` — on or off, since when, by whom, ETA, queue depth",
    "schedule": "`/maintenance schedule` — open the form: start, duration, title, activities, expected impact, "
                "services",
    "windows": "`/maintenance windows` — upcoming windows, scheduled and standing",
    "cancel": "`/maintenance cancel <id>` — cancel a window (a notice goes out if it was announced)",
    "move": "`/maintenance move <id> YYYY-MM-DD HH:MM` — move a window; its notices follow",
    "help": "`/maintenance help` — this list",
}
"""Subcommand → one line of help: the syntax, then what it does."""
USAGE = "\n".join(["*`/maintenance`* — maintenance mode and windows (procedures 5.4)",
                   *(f"• {line}" for line in SUBCOMMANDS.values())])


@dataclass(frozen=True)
class EnableRequest:
    params: dict[str, str]


@dataclass(frozen=True)
class Disable:
    pass


@dataclass(frozen=True)
class ShowStatus:
    pass


@dataclass(frozen=True)
class OpenScheduleForm:
    pass


@dataclass(frozen=True)
class ListWindows:
    pass


@dataclass(frozen=True)
class CancelWindow:
    window_id: int


@dataclass(frozen=True)
class MoveWindow:
    window_id: int
    start: str  # YYYY-MM-DD HH:MM in the pack's time zone, checked against the clock by the service


Command = EnableRequest | Disable | ShowStatus | OpenScheduleForm | ListWindows | CancelWindow | MoveWindow | Help


def parse(text: str) -> Command | ParseError:
    verb, rest = verb_and_rest(text)
    args = rest.split()
    match verb:
        case "" | "help":
            return Help()
        case "enable":
            return parse_enable(rest)
        case "disable":
            return ParseError("`/maintenance disable` takes no arguments.") if args else Disable()
        case "status":
            return ShowStatus()
        case "schedule":
            return ParseError("`/maintenance schedule` takes no arguments; it opens the form.") if args \
                else OpenScheduleForm()
        case "windows":
            return ListWindows()
        case "cancel":
            window_id = window_number(args[0]) if len(args) == 1 else None
            if window_id is None:
                return ParseError("Say which window, like `/maintenance cancel 3` (`/maintenance windows` lists them).")
            return CancelWindow(window_id)
        case "move":
            window_id = window_number(args[0]) if args else None
            if window_id is None or len(args) < 2:
                return ParseError("Say which window and its new start, like `/maintenance move 3 2026-12-06 22:00` "
                                  "(in the pack's time zone).")
            return MoveWindow(window_id, " ".join(args[1:]))
    return ParseError(f"Unknown subcommand `{verb[:30]}`. Try `/maintenance help`.")


def window_number(word: str) -> int | None:
    """``3``, ``MW-3`` or ``mw-3``."""
    digits = word[3:] if word.lower().startswith("mw-") else word
    return int(digits) if digits.isdigit() and len(digits) < 10 else None


def parse_enable(text: str) -> EnableRequest | ParseError:
    """The last word is the ETA when it reads as one (``23:00``, ``45m``, ``2h``; also ``eta=…``);
    the rest is the reason shown on the page."""
    words = (text or "").split()
    params: dict[str, str] = {}
    if words:
        last = words[-1].removeprefix("eta=")
        if _ETA.fullmatch(last):
            params["eta"] = last
            words = words[:-1]
        elif words[-1].startswith("eta="):
            return ParseError(f"`{words[-1][:40]}` is not an ETA; write it like `23:00`, `45m` or `2h`.")
    reason = " ".join(words)
    if len(reason) > REASON_LIMIT:
        return ParseError(f"The reason is {len(reason)} characters; keep it to {REASON_LIMIT} "
                          "(it is shown on the page).")
    if reason:
        params["reason"] = reason
    return EnableRequest(params)
