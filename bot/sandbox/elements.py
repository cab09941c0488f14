"""Interactive Block Kit elements as a Slack client sees them: buttons to click, inputs to fill.

The simulator builds payloads from these and the console draws them, so both agree on which
button is which and on the exact shape of `view.state.values` Slack would send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

StateInput = str | list[str] | dict[str, Any] | None

_SCALAR_KEYS = {
    "plain_text_input": "value",
    "number_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}
_LIST_KEYS = {
    "multi_users_select": "selected_users",
    "multi_conversations_select": "selected_conversations",
    "multi_channels_select": "selected_channels",
}
_ONE_OPTION = {"static_select", "external_select", "radio_buttons"}
_MANY_OPTIONS = {"multi_static_select", "multi_external_select", "checkboxes"}


@dataclass(frozen=True)
class Button:
    block_id: str
    action_id: str
    text: str
    value: str | None
    style: str | None
    element: dict[str, Any]


@dataclass(frozen=True)
class Input:
    block_id: str
    action_id: str
    label: str
    optional: bool
    element: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.element.get("type"))


def buttons(blocks: list[dict[str, Any]]) -> list[Button]:
    """Buttons in reading order: section accessories and actions blocks."""
    found = []
    for block in blocks:
        elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory")]
        for element in elements:
            if isinstance(element, dict) and element.get("type") == "button":
                found.append(
                    Button(
                        block_id=str(block.get("block_id", "")),
                        action_id=str(element.get("action_id", "")),
                        text=str(element.get("text", {}).get("text", "")),
                        value=element.get("value"),
                        style=element.get("style"),
                        element=element,
                    )
                )
    return found


def inputs(blocks: list[dict[str, Any]]) -> list[Input]:
    return [
        Input(
            block_id=str(block.get("block_id", "")),
            action_id=str(block["element"].get("action_id", "")),
            label=str(block.get("label", {}).get("text", "")),
            optional=bool(block.get("optional", False)),
            element=block["element"],
        )
        for block in blocks
        if block.get("type") == "input" and isinstance(block.get("element"), dict)
    ]


def options(element: dict[str, Any]) -> list[dict[str, Any]]:
    """A select's options, flattening option_groups."""
    grouped = [o for group in element.get("option_groups", []) for o in group.get("options", [])]
    return [*element.get("options", []), *grouped]


_INITIAL_KEYS = {
    "plain_text_input": "initial_value",
    "number_input": "initial_value",
    "email_text_input": "initial_value",
    "url_text_input": "initial_value",
    "users_select": "initial_user",
    "multi_users_select": "initial_users",
    "conversations_select": "initial_conversation",
    "multi_conversations_select": "initial_conversations",
    "channels_select": "initial_channel",
    "multi_channels_select": "initial_channels",
    "datepicker": "initial_date",
    "timepicker": "initial_time",
    "datetimepicker": "initial_date_time",
}


def initial_value(field: Input) -> StateInput:
    """The value the element is prefilled with, in the shape ``state_value`` takes: what the Slack
    client submits if the user leaves the field as it is."""
    element = field.element
    if field.kind in _INITIAL_KEYS:
        value = element.get(_INITIAL_KEYS[field.kind])
        if isinstance(value, int):  # datetimepicker: a Unix time
            return str(value)
        return value if isinstance(value, str | list) else None
    if field.kind in _ONE_OPTION:
        option = element.get("initial_option")
        return str(option["value"]) if isinstance(option, dict) and "value" in option else None
    if field.kind in _MANY_OPTIONS:
        return [str(o["value"]) for o in element.get("initial_options", []) if isinstance(o, dict) and "value" in o]
    return None


def is_empty(value: StateInput) -> bool:
    return value is None or value == "" or value == []


def state_value(field: Input, value: StateInput) -> dict[str, Any]:
    """The `state.values[block_id][action_id]` entry Slack sends for `value` typed into `field`.

    Strings are option values for selects and ids for user/channel pickers; a dict is taken as the
    finished Slack shape. Raises AssertionError for what the Slack client would not let a user enter.
    """
    if isinstance(value, dict):
        return value
    kind = field.kind
    if kind in _SCALAR_KEYS:
        if isinstance(value, str) and kind == "plain_text_input":
            _check_length(field, value)
        return {"type": kind, _SCALAR_KEYS[kind]: value}
    if kind in _LIST_KEYS:
        return {"type": kind, _LIST_KEYS[kind]: _as_list(value)}
    if kind in _ONE_OPTION:
        chosen = _options_for(field, _as_list(value))
        return {"type": kind, "selected_option": chosen[0] if chosen else None}
    if kind in _MANY_OPTIONS:
        return {"type": kind, "selected_options": _options_for(field, _as_list(value))}
    raise AssertionError(f"the sandbox cannot fill a {kind!r} element (block {field.block_id!r})")


def _as_list(value: StateInput) -> list[str]:
    if value is None or value == "":
        return []
    return [value] if isinstance(value, str) else list(value)


def _options_for(field: Input, values: list[str]) -> list[dict[str, Any]]:
    available = options(field.element)
    by_value = {o.get("value"): o for o in available}
    missing = [v for v in values if v not in by_value]
    if missing:
        raise AssertionError(
            f"{field.block_id}/{field.action_id} has no option {missing}; options are {list(by_value)}"
        )
    return [{"text": by_value[v]["text"], "value": v} for v in values]


def _check_length(field: Input, value: str) -> None:
    low, high = field.element.get("min_length", 0), field.element.get("max_length", 3000)
    if value and not low <= len(value) <= high:
        raise AssertionError(f"{field.label!r} takes {low} to {high} characters, not {len(value)}")
