"""canvases.* and conversations.canvases.create: canvases as Slack keeps them, a list of sections.

``document_content`` is ``{"type": "markdown", "markdown": …}`` of at most 1 MiB; headings go down to
``###``; each heading, paragraph, list item and table is a section with its own id, which
``canvases.sections.lookup`` finds by heading level (``h1``, ``h2``, ``h3``, ``any_header``) and/or
by the text it contains. ``canvases.edit`` takes exactly one change per call (Slack's current
limit): ``insert_after`` / ``insert_before`` / ``delete`` need a ``section_id``; ``replace`` without
one replaces the whole canvas. A channel holds one channel canvas; a workspace whose plan has no
canvases refuses them all.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from bot.sandbox.errors import SlackError
from bot.sandbox.methods.args import Args
from bot.sandbox.methods.lookup import require_member, visible_channel
from bot.sandbox.models import Canvas, CanvasSection
from bot.sandbox.state import State

MAX_MARKDOWN = 1_048_576
OPERATIONS = ("insert_after", "insert_before", "insert_at_start", "insert_at_end", "replace", "delete")
NEEDS_SECTION = ("insert_after", "insert_before", "delete")
SECTION_TYPES = ("h1", "h2", "h3", "any_header")
_HEADING = re.compile(r"(#{1,6})\s+\S")
_LIST = re.compile(r"\s*(?:[-*+]|[0-9]+\.)\s+(\[[ xX]\]\s+)?\S")


def parse(markdown: str) -> list[CanvasSection]:
    """Sections as a canvas makes them; SlackError(canvas_editing_failed) for what it cannot hold."""
    sections: list[CanvasSection] = []
    table: list[str] = []

    def close_table() -> None:
        if table:
            sections.append(CanvasSection(_section_id(), "table", "\n".join(table)))
            table.clear()

    for number, line in enumerate(markdown.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
            table.append(stripped)
            continue
        close_table()
        if not stripped:
            continue
        heading = _HEADING.match(stripped)
        listed = _LIST.match(line)
        if heading:
            level = len(heading.group(1))
            if level > 3:
                raise SlackError("canvas_editing_failed",
                                 detail=f"'content' error: line {number}: Unsupported heading level {level}")
            sections.append(CanvasSection(_section_id(), f"h{level}", stripped))
        elif stripped.startswith(">"):
            if _LIST.match(stripped.lstrip("> ")):
                raise SlackError("canvas_editing_failed", detail=f"'content' error: line {number}: "
                                 "Unsupported block type (List) within block quote")
            sections.append(CanvasSection(_section_id(), "quote", stripped))
        elif listed:
            sections.append(CanvasSection(_section_id(), "checklist_item" if listed.group(1) else "list_item", line))
        else:
            sections.append(CanvasSection(_section_id(), "paragraph", stripped))
    close_table()
    return sections


def _section_id() -> str:
    return f"temp:C:{secrets.token_hex(14)}"


def _content(args: Args, name: str = "document_content", *, required: bool = True) -> str | None:
    content = args.json(name) if name in args else None
    if content is None:
        if required:
            raise SlackError("invalid_arguments", response_metadata={"messages": [f"missing required field: {name}"]})
        return None
    return _markdown(content)


def _markdown(content: Any) -> str:
    if not isinstance(content, dict) or content.get("type") != "markdown" \
            or not isinstance(content.get("markdown"), str):
        raise SlackError("invalid_arguments",
                         response_metadata={"messages": ["document_content must be {type: markdown, markdown: …}"]})
    if len(content["markdown"]) > MAX_MARKDOWN:
        raise SlackError("canvas_too_large")
    return content["markdown"]


def _canvas(state: State, args: Args) -> Canvas:
    if "canvas_id" not in args:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["missing required field: canvas_id"]})
    canvas = state.canvases.get(args.text("canvas_id"))
    if canvas is None:
        raise SlackError("canvas_not_found")
    if not state.canvases_enabled:
        raise SlackError("canvas_disabled_user_team")
    return canvas


def channel_canvas_create(state: State, args: Args) -> dict[str, Any]:
    if "channel_id" not in args:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["missing required field: channel_id"]})
    channel = visible_channel(state, args.text("channel_id"))
    require_member(state, channel)
    if not state.canvases_enabled:
        raise SlackError("team_tier_cannot_create_channel_canvases")
    if state.channel_canvas(channel.id) is not None:
        raise SlackError("channel_canvas_already_exists")
    markdown = _content(args, required=False)
    canvas = Canvas(id=state.new_id("F"), title=args.text("title") or channel.name, channel_id=channel.id,
                    sections=parse(markdown or ""), created_by=state.identity.bot_user_id)
    state.canvases[canvas.id] = canvas
    return {"ok": True, "canvas_id": canvas.id}


def edit(state: State, args: Args) -> dict[str, Any]:
    canvas = _canvas(state, args)
    changes = args.json("changes") if "changes" in args else None
    if not isinstance(changes, list) or len(changes) != 1 or not isinstance(changes[0], dict):
        raise SlackError("invalid_arguments", response_metadata={
            "messages": ["changes must hold exactly one change (minItems 1, maxItems 1)"]})
    change = changes[0]
    operation = change.get("operation")
    if operation not in OPERATIONS:
        raise SlackError("invalid_arguments", response_metadata={"messages": [f"unknown operation: {operation!r}"]})
    section_id = change.get("section_id")
    if operation in NEEDS_SECTION and not section_id:
        raise SlackError("invalid_arguments", response_metadata={"messages": [f"{operation} needs a section_id"]})
    position = None
    if section_id:
        position = next((i for i, s in enumerate(canvas.sections) if s.id == section_id), None)
        if position is None:
            raise SlackError("canvas_editing_failed", detail=f"section {section_id} not found")
    added = [] if operation == "delete" else parse(_markdown(change.get("document_content")))
    sections = list(canvas.sections)
    if operation == "delete":
        assert position is not None
        del sections[position]
    elif operation == "replace":
        sections[slice(None) if position is None else slice(position, position + 1)] = added
    elif operation == "insert_at_start":
        sections[:0] = added
    elif operation == "insert_at_end":
        sections.extend(added)
    else:
        assert position is not None
        at = position if operation == "insert_before" else position + 1
        sections[at:at] = added
    if len("\n".join(s.markdown for s in sections)) > MAX_MARKDOWN:
        raise SlackError("canvas_too_large")
    canvas.sections = sections
    canvas.edits += 1
    return {"ok": True}


def sections_lookup(state: State, args: Args) -> dict[str, Any]:
    canvas = _canvas(state, args)
    criteria = args.json("criteria") if "criteria" in args else None
    if not isinstance(criteria, dict) or not (criteria.get("section_types") or criteria.get("contains_text")):
        raise SlackError("invalid_arguments",
                         response_metadata={"messages": ["criteria needs section_types and/or contains_text"]})
    types = criteria.get("section_types") or []
    if not isinstance(types, list) or len(types) > 3 or any(t not in SECTION_TYPES for t in types):
        raise SlackError("invalid_arguments",
                         response_metadata={"messages": [f"section_types: 1 to 3 of {', '.join(SECTION_TYPES)}"]})
    text = str(criteria.get("contains_text") or "").lower()

    def wanted(section: CanvasSection) -> bool:
        kind_ok = not types or section.kind in types or ("any_header" in types and section.kind in ("h1", "h2", "h3"))
        return kind_ok and text in section.markdown.lower()

    return {"ok": True, "sections": [{"id": s.id} for s in canvas.sections if wanted(s)]}


METHODS = {
    "conversations.canvases.create": channel_canvas_create,
    "canvases.edit": edit,
    "canvases.sections.lookup": sections_lookup,
}
