"""What every slash command's parser shares.

Each command's text is parsed by a pure function (``bot/<domain>/commands.py``: no playbook, no
database, so any text can be property-tested) into a typed command, or into a ``ParseError`` whose
message says how to write it. Handlers match on the result; they never read the text themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PAIR = re.compile(r"([a-z_][a-z0-9_]*)=(\S+)")
"""A ``name=value`` parameter."""


@dataclass(frozen=True)
class ParseError:
    message: str


@dataclass(frozen=True)
class Help:
    pass


def verb_and_rest(text: str | None) -> tuple[str, str]:
    """The first word, lowercased, and the rest stripped: ``("", "")`` for empty text."""
    verb, _, rest = (text or "").strip().partition(" ")
    return verb.lower(), rest.strip()
