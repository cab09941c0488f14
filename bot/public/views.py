"""Block Kit for customer notices: the drafting form, the preview with its Approve button, and the
preview once published."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from storage.models import Incident
from storage.public import CustomerNotice

NOTICE_VIEW = "customer_notice_submitted"
APPROVE_NOTICE = "customer_notice_approve"
TITLE_LIMIT, TEXT_LIMIT = 120, 2900


def notice_modal(incident: Incident, kind: str, public_title: str, impact: str, body: str) -> dict:
    def text_input(block_id: str, label: str, initial: str, limit: int, *, multiline: bool = False) -> InputBlock:
        return InputBlock(block_id=block_id, label=label,
                          element=PlainTextInputElement(action_id="value", multiline=multiline,
                                                        initial_value=initial[:limit] or None, max_length=limit))

    view = View(
        type="modal", callback_id=NOTICE_VIEW, title=PlainTextObject(text=f"Customer notice {incident.ref}"[:24]),
        submit=PlainTextObject(text="Preview"), close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"incident_id": incident.id, "kind": kind}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(
                text=f"*{kind.capitalize()} notification* for customers. Nothing is public until the Incident "
                     "Commander approves the preview; write nothing internal (hosts, people, channels).")),
            text_input("public_title", "Public title (the subject)", public_title, TITLE_LIMIT),
            text_input("impact", "Impact, as customers see it", impact, TEXT_LIMIT, multiline=True),
            text_input("body", "Message", body, TEXT_LIMIT, multiline=True),
        ],
    )
    return view.to_dict()


def _notice_text(notice: CustomerNotice) -> str:
    quoted = "\n".join(f">{_escaped(line)}" for line in notice.body.splitlines()) or ">"
    return f"*{_escaped(notice.public_title)}*\n{quoted}"


def preview(notice: CustomerNotice, commander: str | None) -> tuple[str, list[dict]]:
    who = f"<@{commander}>" if commander else "the Incident Commander (none assigned yet)"
    text = f"Customer notice #{notice.id} ({notice.kind}) drafted by <@{notice.drafted_by}>: waiting for {who}"
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=f":memo: *Customer notice draft* ({notice.kind}) by "
                                                  f"<@{notice.drafted_by}>. Not public until {who} approves it.")),
        SectionBlock(text=MarkdownTextObject(text=_notice_text(notice)[:TEXT_LIMIT])),
        ActionsBlock(elements=[ButtonElement(text="Approve and publish", action_id=APPROVE_NOTICE,
                                             value=f"{notice.incident_id}:{notice.id}", style="primary")]),
    ]
    return text, [b.to_dict() for b in blocks]


def published(notice: CustomerNotice) -> tuple[str, list[dict]]:
    text = f"Customer notice #{notice.id} ({notice.kind}) published, approved by <@{notice.approved_by}>"
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=_notice_text(notice)[:TEXT_LIMIT])),
        ContextBlock(elements=[MarkdownTextObject(
            text=f":globe_with_meridians: Published on the status page; drafted by <@{notice.drafted_by}>, "
                 f"approved by <@{notice.approved_by}>.")]),
    ]
    return text, [b.to_dict() for b in blocks]


def parse_value(value: str) -> tuple[int, int] | None:
    incident, _, notice = (value or "").partition(":")
    return (int(incident), int(notice)) if incident.isdigit() and notice.isdigit() else None


def _escaped(text: str) -> str:
    """Typed text shown as typed: no mentions, links or channel pings in the preview."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
