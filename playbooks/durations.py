"""Durations as people write them in playbooks: ``30s``, ``15m``, ``2h``, ``7d`` (or ``1h30m``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART = re.compile(r"([0-9]+)([smhdw])")
# Parts may be separated by spaces so that format_duration's "1h 30m" reads back.
_WHOLE = re.compile(r"[0-9]+[smhdw](?:\s*[0-9]+[smhdw])*")
_HINT = "write it like 30s, 15m, 2h, 7d or 1h30m"


def _shown(text: object) -> str:
    """repr() cut short, so a pasted novel doesn't become a novel-sized error message."""
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def parse_duration(text: object) -> timedelta:
    """Parse ``15m``-style text; raise ValueError with a hint otherwise (never another exception)."""
    if isinstance(text, timedelta):
        return text
    if not isinstance(text, str) or not _WHOLE.fullmatch(text.strip()):
        raise ValueError(f"{_shown(text)} is not a duration; {_HINT}")
    parts: dict[str, int] = {}
    try:
        for amount, unit in _PART.findall(text):
            parts[_UNITS[unit]] = parts.get(_UNITS[unit], 0) + int(amount)
        return timedelta(**parts)
    except (OverflowError, ValueError) as exc:  # past timedelta's 2.7 million years or int()'s digit limit
        raise ValueError(f"{_shown(text)} is too long a duration; {_HINT}") from exc


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, for messages: ``1h 30m``, ``45s`` (whole seconds; negatives read 0m)."""
    seconds = value // timedelta(seconds=1)
    if seconds <= 0:
        return "0m"
    out = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(out)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda v: format_duration(v).replace(" ", ""), return_type=str),
]
