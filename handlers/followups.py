"""`/followups`, the Done button on follow-ups, and the form that adds one (from the button on the
post-mortem message, or `/incident followup` alone)."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Help, ParseError
from bot.followups import commands as cmd
from bot.followups import flows, views
from bot.incidents import flows as incident_flows
from bot.runtime import Runtime
from bot.slack import view_state
from handlers.listeners import action, command, view
from handlers.replies import answer_click, answer_command, answer_submission, open_form_on_click


@command("/followups")
async def followups(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
    user = command["user_id"]
    match cmd.parse(command.get("text", "")):
        case ParseError(message):
            await ack(text=message)
        case Help():
            await ack(text=cmd.USAGE)
        case cmd.Mine():
            await answer_command(ack, respond, rt.run(flows.mine, rt.work, user))
        case cmd.AllOpen():
            await answer_command(ack, respond, rt.run(flows.all_open, rt.work))
        case cmd.MarkDone(followup_id):
            await answer_command(ack, respond, rt.run(flows.done, rt.work, followup_id, user))
            rt.trackers.kick()


@action(views.MARK_DONE)
async def mark_done(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: rt.run(flows.done, rt.work, c.id, c.user))
    rt.trackers.kick()


@action(views.OPEN_FORM)
async def open_add_form(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                        client: AsyncWebClient) -> None:
    """The post-mortem message's button; its value is the incident's id."""
    await open_form_on_click(ack, respond, client, body, lambda click: rt.run(
        incident_flows.by_id, rt.work, click.id, flows.form, must_be_open=False))


@view(views.FORM_VIEW)
async def add_submitted(rt: Runtime, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    values = view["state"]["values"]
    text, owner = view_state.text(values, "text").strip(), view_state.selected_user(values, "owner")
    incident_id = view_state.metadata(view).get("incident_id")
    errors = {}
    if not text:
        errors["text"] = "Say what is to be done."
    if not owner:
        errors["owner"] = "Pick who owns it."
    try:
        due_on = date.fromisoformat(view_state.selected_date(values, "due"))
    except ValueError:
        errors["due"] = "Pick the due date."
    if not isinstance(incident_id, int):
        errors["text"] = "This form is not attached to an incident; open it again from the incident channel."
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    added = await answer_submission(ack, rt.run(flows.add_from_form, rt.work, int(incident_id), owner, due_on, text,
                                                body["user"]["id"], f"view:{view['id']}"), "text")
    if added is not None:
        rt.trackers.kick()
