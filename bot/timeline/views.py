"""The timeline as people read it in Slack, and the message shortcut's form. Rendering only."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.models.blocks import InputBlock, MarkdownTextObject, Option, SectionBlock, StaticSelectElement
from slack_sdk.models.views import View

from bot.slack.people import who
from bot.timeline.capture import MESSAGE, SlackMessage
from bot.work import BOT
from playbooks.models import Playbook
from storage.models import Incident, TimelineEntry

SHORTCUT = "incident_timeline_add"
"""The message shortcut's ``callback_id`` (manifest.yaml)."""
SHORTCUT_VIEW = "incident_timeline_add_form"
MAX_TEXT = 12_000  # characters of one answer; the post-mortem holds the whole timeline
QUOTE_LIMIT = 300
_BROADCAST = re.compile(r"<!(channel|here|everyone|subteam\^[A-Z0-9]+)(\|[^>]*)?>")


def quiet(text: str) -> str:
    """Captured text shown again: the mentions stay, but ``@channel``-style pings do not ring twice."""
    return _BROADCAST.sub(lambda m: f"@{m.group(1).split('^')[0]}", text)


@dataclass(frozen=True)
class Markup:
    """How a text format strikes a deleted message out and links to one."""

    strike: Callable[[str], str]
    link: Callable[[str], str]


MRKDWN = Markup(strike=lambda text: f"~{text}~", link=lambda url: f"<{url}|message>")


def captured(entry: TimelineEntry, text: str, markup: Markup) -> str:
    """A timeline entry's text; a captured message quoted, with its state in Slack and its link."""
    if entry.kind != MESSAGE:
        return text
    text = f"“{text}”"
    if entry.deleted_at:
        text = f"{markup.strike(text)} (deleted in Slack)"
    elif entry.edited_at:
        text += " (edited)"
    return text + (f" {markup.link(entry.permalink)}" if entry.permalink else "")


def entry_line(playbook: Playbook, entry: TimelineEntry) -> str:
    when = entry.at.astimezone(playbook.settings.zone).strftime("%H:%M")
    text = " ".join(quiet(entry.text).split())
    if entry.kind == MESSAGE and len(text) > QUOTE_LIMIT:
        text = text[:QUOTE_LIMIT] + "…"
    author = "" if entry.author == BOT else f" · {who(entry.author)}"
    return f"`{when}` {captured(entry, text, MRKDWN)}{author}"


def timeline_text(playbook: Playbook, incident: Incident, entries: list[TimelineEntry]) -> str:
    """In order, under a heading per day when the incident spans days (pack time zone); the
    newest entries when it is too long for one message."""
    zone = playbook.settings.zone
    days = sorted({e.at.astimezone(zone).date() for e in entries})
    lines: list[str] = []
    current = None
    for entry in entries:
        day = entry.at.astimezone(zone).date()
        if len(days) > 1 and day != current:
            lines.append(f"*{day:%a %d %b %Y}*")
            current = day
        lines.append(entry_line(playbook, entry))
    head = f"*Timeline of {incident.ref}* ({len(entries)} entries, {playbook.settings.timezone})"
    shown, left_out = lines, 0
    while shown and len("\n".join(shown)) > MAX_TEXT:
        shown, left_out = shown[1:], left_out + 1
    if left_out:
        head += f"\n_{left_out} earlier lines left out; the post-mortem has them all_"
    return "\n".join([head, *shown]) if entries else f"*Timeline of {incident.ref}*: nothing yet."


def shortcut_modal(playbook: Playbook, incidents: list[Incident], here: Incident | None,
                   message: SlackMessage) -> dict:
    def option(incident: Incident) -> Option:
        return Option(text=f"{incident.ref} {incident.severity} {incident.title}"[:75], value=str(incident.id))

    quoted = " ".join(quiet(message.text).split())[:QUOTE_LIMIT] or "(no text)"
    view = View(
        type="modal", callback_id=SHORTCUT_VIEW, title="Add to timeline",
        submit="Add", close="Cancel",
        private_metadata=json.dumps({"channel": message.channel, "ts": message.ts}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"{who(message.user)}: “{quoted}”")),
            InputBlock(block_id="incident", label="Incident",
                       element=StaticSelectElement(action_id="value", options=[option(i) for i in incidents[:100]],
                                                   initial_option=option(here) if here else None)),
        ],
    )
    return view.to_dict()
