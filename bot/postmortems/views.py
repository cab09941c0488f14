"""What the channel reads about its post-mortem: plain sentences and buttons (the draft itself is
the canvas or the Markdown file; no Markdown heading or table is ever posted as a message)."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from bot.followups.views import OPEN_FORM
from storage.models import Incident
from storage.postmortems import CANVAS, Postmortem

REPLACE = "postmortem_replace"


def _add_followup(incident: Incident) -> ButtonElement:
    return ButtonElement(text="Add follow-up", action_id=OPEN_FORM, value=str(incident.id))


def published(incident: Incident, fmt: str, why: str | None = None) -> tuple[str, list[dict]]:
    if fmt == CANVAS:
        text = (f":memo: The post-mortem draft of {incident.ref} is this channel's canvas (the canvas icon at the "
                "top of the channel). Write in it; `/incident postmortem` later adds what happened since, and asks "
                "before replacing anything.")
    else:
        text = (f":memo: The post-mortem draft of {incident.ref} is the Markdown file above"
                + (f" (no canvas: {why})" if why else "") + ". `/incident postmortem` later uploads it again with "
                "what happened since.")
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text)),
                           ActionsBlock(elements=[_add_followup(incident)])]
    return text, [b.to_dict() for b in blocks]


def updated(incident: Incident, note: str) -> str:
    return f":memo: {incident.ref}'s post-mortem draft: {note}"


def ask_to_replace(incident: Incident, postmortem: Postmortem, changed: list[str]) -> tuple[str, list[dict]]:
    parts = ", ".join(changed)
    text = (f":warning: Since {incident.ref}'s post-mortem was drafted, these parts would read differently: {parts}. "
            "Replacing the draft with a fresh one overwrites whatever was written in it.")
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=text)),
        ActionsBlock(elements=[ButtonElement(text="Replace the draft", action_id=REPLACE, style="danger",
                                             value=f"{incident.id}:{postmortem.id}")]),
        ContextBlock(elements=[MarkdownTextObject(text="Leave it, and nothing is replaced.")]),
    ]
    return text, [b.to_dict() for b in blocks]


def failed(incident: Incident, error: str) -> str:
    return (f":warning: Slack refused {incident.ref}'s post-mortem draft ({error}); it is stored, and "
            "`/incident postmortem` tries again.")
