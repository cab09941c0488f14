"""Slack messages as plain terminal text: mrkdwn markup resolved to names, blocks flattened to lines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_LINK = re.compile(r"<([^<>]+)>")


def plain(text: str, names: Mapping[str, str]) -> str:
    """Resolve Slack's angle-bracket markup: <@U1> → @alice, <#C1|ops> → #ops, <!subteam^S1|@oncall> → @oncall."""

    def replace(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            return "@" + names.get(target[1:], label or target[1:])
        if target.startswith("#"):
            return "#" + (label or names.get(target[1:], target[1:]))
        if target.startswith("!subteam^"):
            return label or "@" + target.removeprefix("!subteam^")
        if target.startswith("!"):
            return "@" + target[1:]
        return f"{label} ({target})" if label else target

    return _LINK.sub(replace, text)


def block_lines(blocks: list[dict[str, Any]], names: Mapping[str, str]) -> list[str]:
    """The readable text of each block; buttons are left to the caller, which numbers them."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            if isinstance(block.get("text"), dict):
                lines += plain(str(block["text"].get("text", "")), names).splitlines()
            lines += [plain(str(f.get("text", "")), names) for f in block.get("fields", [])]
        elif kind == "context":
            texts = [plain(str(e.get("text", e.get("alt_text", ""))), names) for e in block.get("elements", [])]
            lines.append(" · ".join(t for t in texts if t))
        elif kind == "divider":
            lines.append("─" * 24)
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "rich_text":
            lines += plain(_rich_text(block), names).splitlines()
    return lines


def _rich_text(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        if node.get("type") == "user":
            return f"<@{node.get('user_id', '')}>"
        return "".join(_rich_text(child) for child in node.get("elements", []))
    return ""
