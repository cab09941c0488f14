"""Reading Web API parameters the way Slack does, whichever encoding the client chose.

slack_sdk sends some methods as JSON and others form-encoded (booleans then arrive as "1"/"0",
lists as comma-joined strings, `blocks` and `view` as JSON strings), so every accessor accepts
both the typed JSON value and its string form.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from bot.sandbox.errors import SlackError

T = TypeVar("T")


class Args:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def text(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        return default if value is None else str(value)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("1", "true", "yes")

    def number(self, name: str, default: int) -> int:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None

    def ts(self, name: str, default: float) -> float:
        """A message timestamp bound such as `oldest`; Slack's `invalid_ts_<name>` when unparsable."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise SlackError(f"invalid_ts_{name}") from None

    def json(self, name: str, *, error: str = "invalid_arguments") -> Any:
        """A structured argument sent either as JSON or as a JSON-encoded string."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise SlackError(error) from None

    def id_list(self, name: str) -> list[str]:
        """A comma-separated id list (or a JSON array), blanks dropped."""
        value = self.values.get(name)
        parts = value if isinstance(value, list) else str(value or "").split(",")
        return [str(p).strip() for p in parts if str(p).strip()]


def paginate(items: Sequence[T], args: Args, *, default_limit: int = 100) -> tuple[list[T], str]:
    """One page of `items` and Slack's `next_cursor` ("" on the last page); cursors are opaque base64."""
    limit = args.number("limit", default_limit) or default_limit
    start = 0
    if "cursor" in args:
        try:
            start = int(base64.b64decode(args.text("cursor")).decode().removeprefix("next:"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise SlackError("invalid_cursor") from None
    end = start + limit
    next_cursor = base64.b64encode(f"next:{end}".encode()).decode() if end < len(items) else ""
    return list(items[start:end]), next_cursor
