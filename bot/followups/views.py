"""Follow-ups as people see them in Slack: the lists with their Done buttons, the reminders, and
the form. Rendering only."""

from __future__ import annotations

import json
from datetime import date

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.slack.reply import Reply
from storage.followups import DONE, FollowUp
from storage.models import Incident

MARK_DONE = "followup_done"
OPEN_FORM = "followup_open_form"
FORM_VIEW = "followup_add"
MAX_TEXT = 300
MAX_LISTED = 40  # a message holds 50 blocks; more is what /followups all is not for


def escaped(text: str) -> str:
    """Typed text shown as it was typed: no pings, no links made of it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def due_words(due_on: date, today: date) -> str:
    days = (due_on - today).days
    if days == 0:
        return "due today"
    if days == 1:
        return "due tomorrow"
    if days < 0:
        return f"*overdue* since {due_on:%a %d %b}"
    return f"due {due_on:%a %d %b}"


def line(followup: FollowUp, incident_ref: str, today: date, *, owner: bool = True) -> str:
    state = "done" if followup.status == DONE else due_words(followup.due_on, today)
    tracked = f" · <{followup.tracker_url}|{followup.tracker} {followup.tracker_key}>" if followup.tracker_url else ""
    whose = f"<@{followup.owner}> · " if owner else ""
    return f"*{followup.ref}* {escaped(followup.text)} · {whose}{state} · {incident_ref}{tracked}"


def added_text(followup: FollowUp, by: str, today: date) -> str:
    return (f":memo: <@{by}> added follow-up *{followup.ref}* for <@{followup.owner}> "
            f"({due_words(followup.due_on, today)}): {escaped(followup.text)}")


def listing(title: str, followups: list[FollowUp], refs: dict[int, str], today: date, *, empty: str,
            owner: bool = True) -> Reply:
    """A list with a Done button on each open follow-up."""
    if not followups:
        return Reply(empty, [SectionBlock(text=MarkdownTextObject(text=empty)).to_dict()])
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"*{title}* ({len(followups)})"))]
    for followup in followups[:MAX_LISTED]:
        blocks.append(SectionBlock(
            block_id=f"followup_{followup.id}",
            text=MarkdownTextObject(text=line(followup, refs.get(followup.incident_id, ""), today, owner=owner)),
            accessory=None if followup.status == DONE else ButtonElement(
                text="Done", action_id=MARK_DONE, value=str(followup.id), style="primary")))
    if len(followups) > MAX_LISTED:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"{len(followups) - MAX_LISTED} more not shown; `/followups mine` shows yours.")]))
    return Reply(f"{title}: {len(followups)}", [b.to_dict() for b in blocks])


def reminder(followup: FollowUp, incident: Incident, today: date, *, overdue: bool) -> tuple[str, list[dict]]:
    """The owner's direct message on the due date, or the day after when it is still open."""
    if overdue:
        text = (f":warning: Follow-up *{followup.ref}* from {incident.ref} was due {followup.due_on:%a %d %b} "
                f"and is still open: {escaped(followup.text)}")
    else:
        text = f":alarm_clock: Follow-up *{followup.ref}* from {incident.ref} is due today: {escaped(followup.text)}"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text))]
    if followup.tracker_url:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"Tracked as <{followup.tracker_url}|{followup.tracker} {followup.tracker_key}>")]))
    blocks.append(ActionsBlock(elements=[ButtonElement(text="Done", action_id=MARK_DONE, value=str(followup.id),
                                                       style="primary")]))
    return text, [b.to_dict() for b in blocks]


def form(incident: Incident, today: date) -> dict:
    view = View(
        type="modal", callback_id=FORM_VIEW, title="Add a follow-up", submit="Add", close="Cancel",
        private_metadata=json.dumps({"incident_id": incident.id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"An action item of {incident.ref}: {escaped(incident.title)}")),
            InputBlock(block_id="text", label="What is to be done",
                       element=PlainTextInputElement(action_id="value", max_length=MAX_TEXT)),
            InputBlock(block_id="owner", label="Owner", element=UserSelectElement(action_id="value")),
            InputBlock(block_id="due", label="Due", element=DatePickerElement(action_id="value",
                                                                              initial_date=today.isoformat())),
        ],
    )
    return view.to_dict()
