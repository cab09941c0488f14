"""Block Kit limits Slack enforces on messages and views, reported in Slack's "[ERROR] … [json-pointer:…]" style.

Light on purpose: the checks catch what a bot realistically gets wrong (too many blocks, over-long
text, duplicate ids, unknown types) so a message the sandbox accepts would also be accepted by Slack.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100

_BLOCK_TYPES = {
    "actions", "context", "divider", "file", "header", "image", "input", "markdown", "rich_text", "section",
    "table", "video",
}  # fmt: skip
_TEXT_TYPES = {"plain_text", "mrkdwn"}
_BUTTON_STYLES = {"primary", "danger"}


def is_block_list(blocks: Any) -> bool:
    """Whether `blocks` has the basic shape Slack parses (else it answers `invalid_blocks_format`)."""
    return isinstance(blocks, list) and all(isinstance(b, dict) for b in blocks)


def with_block_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the blocks, each with a block_id: Slack generates one where the app gave none."""
    taken = {b["block_id"] for b in blocks if "block_id" in b}
    result = []
    for block in blocks:
        if "block_id" not in block:
            block_id = _random_id()
            while block_id in taken:
                block_id = _random_id()
            taken.add(block_id)
            block = {**block, "block_id": block_id}
        result.append(block)
    return result


def _random_id() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(5))


def block_errors(blocks: list[dict[str, Any]], *, limit: int, pointer: str = "/blocks") -> list[str]:
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}]")
    seen_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"{pointer}/{index}"
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                errors.append(f"[ERROR] must be 1 to 255 characters [json-pointer:{where}/block_id]")
            elif block_id in seen_ids:
                errors.append(f"[ERROR] duplicate block_id '{block_id}' [json-pointer:{where}/block_id]")
            seen_ids.add(str(block_id))
        errors += _block_errors(block, where)
    return errors


def _block_errors(block: dict[str, Any], where: str) -> list[str]:
    kind = block.get("type")
    if kind not in _BLOCK_TYPES:
        return [f"[ERROR] unsupported type: {kind} [json-pointer:{where}/type]"]
    if kind == "section":
        if "text" not in block and "fields" not in block:
            return [f"[ERROR] must provide text or fields [json-pointer:{where}]"]
        errors = text_errors(block["text"], 3000, f"{where}/text") if "text" in block else []
        fields = block.get("fields", [])
        if len(fields) > 10:
            errors.append(f"[ERROR] no more than 10 items allowed [json-pointer:{where}/fields]")
        for i, item in enumerate(fields):
            errors += text_errors(item, 2000, f"{where}/fields/{i}")
        if "accessory" in block:
            errors += _element_errors(block["accessory"], f"{where}/accessory")
        return errors
    if kind == "header":
        return text_errors(block.get("text"), 150, f"{where}/text", plain_only=True)
    if kind == "context":
        return _list_errors(block.get("elements"), 10, f"{where}/elements")
    if kind == "actions":
        elements = block.get("elements")
        errors = _list_errors(elements, 25, f"{where}/elements")
        action_ids = [e.get("action_id") for e in elements or [] if isinstance(e, dict) and e.get("action_id")]
        if len(action_ids) != len(set(action_ids)):
            errors.append(f"[ERROR] duplicate action_id in block [json-pointer:{where}/elements]")
        for i, element in enumerate(elements or []):
            errors += _element_errors(element, f"{where}/elements/{i}")
        return errors
    if kind == "input":
        errors = text_errors(block.get("label"), 2000, f"{where}/label", plain_only=True)
        if not isinstance(block.get("element"), dict):
            return [*errors, f"[ERROR] missing required field: element [json-pointer:{where}]"]
        return errors + _element_errors(block["element"], f"{where}/element")
    return []


def _element_errors(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"[ERROR] must be an element object [json-pointer:{where}]"]
    errors = []
    action_id = element.get("action_id")
    if action_id is not None and not 0 < len(str(action_id)) <= 255:
        errors.append(f"[ERROR] must be 1 to 255 characters [json-pointer:{where}/action_id]")
    if element["type"] == "button":
        errors += text_errors(element.get("text"), 75, f"{where}/text", plain_only=True)
        if len(str(element.get("value", ""))) > 2000:
            errors.append(f"[ERROR] must be less than 2001 characters [json-pointer:{where}/value]")
        if element.get("style") not in (None, *_BUTTON_STYLES):
            errors.append(f"[ERROR] must be one of primary, danger [json-pointer:{where}/style]")
    for i, option in enumerate(element.get("options") or []):
        if not isinstance(option, dict):
            errors.append(f"[ERROR] must be an option object [json-pointer:{where}/options/{i}]")
            continue
        errors += text_errors(option.get("text"), 75, f"{where}/options/{i}/text")
        if not 0 < len(str(option.get("value", ""))) <= 150:
            errors.append(f"[ERROR] must be 1 to 150 characters [json-pointer:{where}/options/{i}/value]")
    return errors


def text_errors(obj: Any, limit: int, where: str, *, plain_only: bool = False) -> list[str]:
    allowed = {"plain_text"} if plain_only else _TEXT_TYPES
    if not isinstance(obj, dict) or obj.get("type") not in allowed:
        return [f"[ERROR] must be a {' or '.join(sorted(allowed))} text object [json-pointer:{where}]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"[ERROR] must be a non-empty string [json-pointer:{where}/text]"]
    if len(text) > limit:
        return [f"[ERROR] must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def _list_errors(items: Any, limit: int, where: str) -> list[str]:
    if not isinstance(items, list) or not items:
        return [f"[ERROR] must provide at least one item [json-pointer:{where}]"]
    if len(items) > limit:
        return [f"[ERROR] no more than {limit} items allowed [json-pointer:{where}]"]
    return []
