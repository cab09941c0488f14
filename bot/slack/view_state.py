"""Reading a submitted form: ``view.state.values`` and ``private_metadata``, tolerant of any shape.

Every input block of our forms holds one element whose ``action_id`` is ``value``, so a field is
``values[block]["value"]``; anything shaped otherwise reads as empty, and the form's own checks
then say what is missing."""

from __future__ import annotations

import json
from typing import Any


def _element(values: Any, block: str) -> dict[str, Any]:
    block_values = values.get(block) if isinstance(values, dict) else None
    element = block_values.get("value") if isinstance(block_values, dict) else None
    return element if isinstance(element, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def text(values: Any, block: str) -> str:
    """A text input's value ("" when empty)."""
    return _str(_element(values, block).get("value"))


def selected(values: Any, block: str) -> str:
    """The value of a select's or radio group's chosen option ("" when none)."""
    option = _element(values, block).get("selected_option")
    return _str(option.get("value")) if isinstance(option, dict) else ""


def selected_values(values: Any, block: str) -> list[str]:
    """The values of the ticked checkboxes."""
    options = _element(values, block).get("selected_options")
    return [o["value"] for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)] \
        if isinstance(options, list) else []


def selected_user(values: Any, block: str) -> str:
    return _str(_element(values, block).get("selected_user"))


def selected_date(values: Any, block: str) -> str:
    """A date picker's ``YYYY-MM-DD`` ("" when none)."""
    return _str(_element(values, block).get("selected_date"))


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    """The form's ``private_metadata`` (JSON we wrote when opening it); {} when unreadable."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
