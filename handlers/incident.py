"""`/incident`, its buttons and its forms: parse, ack, call the incident flows, render."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import verb_and_rest
from bot.followups import flows as followup_flows
from bot.incidents import commands as cmd
from bot.incidents import flows, service, views
from bot.incidents.service import DeclareRequest
from bot.postmortems import service as postmortems
from bot.postmortems import views as postmortem_views
from bot.public import notices
from bot.reports import flows as report_flows
from bot.runtime import Runtime
from bot.slack import view_state
from handlers.listeners import action, command, view
from handlers.replies import (
    Click,
    Refused,
    answer_click,
    answer_command,
    answer_submission,
    ephemeral,
    open_form,
    open_form_on_click,
    outcome,
)


@command("/incident")
async def incident(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond,
                   client: AsyncWebClient) -> None:
    parsed = cmd.parse(command.get("text", ""))
    user, channel = command["user_id"], command["channel_id"]
    verb, _ = verb_and_rest(command.get("text"))
    match parsed:
        case cmd.ParseError(message):
            await ack(text=message)
        case cmd.Help():
            await ack(text=cmd.USAGE)
        case cmd.OpenDeclareModal():
            await open_form(ack, respond, client, command["trigger_id"],
                            views.declare_modal(rt.playbook, channel_id=channel))
        case cmd.Declare(severity, title):
            await _declare(rt, ack, respond, DeclareRequest(
                severity=severity, title=title, declared_by=user, source_channel_id=channel,
                response_url=command.get("response_url"),
                request_key=f"trigger:{command['trigger_id']}" if command.get("trigger_id") else None))
        case cmd.Note(text):
            await answer_command(ack, respond, rt.notes((channel, text, user)))
        case cmd.ListIncidents():
            await answer_command(ack, respond, rt.run(flows.open_list, rt.work))
        case cmd.ShowReport(days):
            await answer_command(ack, respond, rt.run(report_flows.answer, rt.work, days))
        case cmd.OpenUpdateModal():
            await open_form(ack, respond, client, command["trigger_id"],
                            rt.run(flows.in_channel, rt.work, channel, verb, service.update_form))
        case cmd.OpenFollowUpForm():
            await open_form(ack, respond, client, command["trigger_id"],
                            rt.run(flows.in_channel, rt.work, channel, verb, followup_flows.form))
        case cmd.DraftPostmortem() | cmd.AddFollowUp():
            await answer_command(ack, respond, rt.run(
                flows.in_channel, rt.work, channel, verb, lambda ctx, inc: service.carry_out(ctx, inc, parsed, user)))
            rt.postmortems.kick()
            rt.trackers.kick()
        case cmd.OpenNoticeModal(kind):
            await open_form(ack, respond, client, command["trigger_id"], rt.run(
                flows.in_channel, rt.work, channel, verb, lambda ctx, inc: notices.notice_form(ctx, inc, kind, user)))
        case _:
            await answer_command(ack, respond, rt.run(
                flows.in_channel, rt.work, channel, verb, lambda ctx, inc: service.carry_out(ctx, inc, parsed, user)))


async def _declare(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, req: DeclareRequest) -> None:
    result = await outcome(rt.run(flows.declare, rt.work, req))
    if isinstance(result, Refused):
        await ack(text=result.text)
        return
    incident, created = result
    if not created:
        await ack(text=f"{incident.ref} was already declared from this request.")
        return
    label = rt.playbook.severity(incident.severity).label
    await ack(text=f"Declaring {incident.ref} ({label}): {incident.title}. Setting up the channel…")
    provisioned = await rt.run_slow(rt.provisioner.provision, incident.id)
    if provisioned.error:
        await ephemeral(respond, f"{incident.ref} is recorded, but Slack refused part of the set-up "
                                 f"({provisioned.error}). I will keep trying.")


# -- buttons in the channel -------------------------------------------------------------------------
@action(views.CLAIM_ROLE)
async def claim_role(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: rt.run(flows.by_id, rt.work, c.id, lambda ctx, inc:
                                                             service.assign_role(ctx, inc, c.key, c.user, c.user,
                                                                                 claim=True)), keyed=True)


@action(views.TICK)
async def tick(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: _tick(rt, c, done=True), keyed=True)


@action(views.UNTICK)
async def untick(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: _tick(rt, c, done=False), keyed=True)


async def _tick(rt: Runtime, click: Click, *, done: bool) -> str:
    return await rt.run(flows.by_id, rt.work, click.id,
                        lambda ctx, inc: service.tick(ctx, inc, click.key, click.user, done=done))


@action(views.OPEN_UPDATE)
async def open_update(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                      client: AsyncWebClient) -> None:
    await open_form_on_click(ack, respond, client, body,
                             lambda click: rt.run(flows.by_id, rt.work, click.id, service.update_form))


@action(postmortem_views.REPLACE)
async def replace_postmortem(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    """"Replace the draft", asked after a regeneration; its value is ``<incident id>:<post-mortem id>``."""
    await answer_click(ack, respond, body, lambda c: rt.run(flows.by_id, rt.work, c.id, lambda ctx, inc: (
        postmortems.replace(ctx, inc, int(c.key) if c.key.isdigit() else 0, c.user)), must_be_open=False), keyed=True)
    rt.postmortems.kick()


# -- forms ------------------------------------------------------------------------------------------
@view(views.DECLARE_VIEW)
async def declare_submitted(rt: Runtime, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    values = view["state"]["values"]
    title = " ".join(view_state.text(values, "title").split())
    severity = cmd.parse_severity(view_state.selected(values, "severity"))
    errors = {}
    if not title:
        errors["title"] = "Give the incident a title."
    elif len(title) > cmd.MAX_TITLE:
        errors["title"] = f"Keep the title under {cmd.MAX_TITLE} characters."
    if severity is None:
        errors["severity"] = "Pick a severity (P0–P3)."
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    req = DeclareRequest(severity=severity or "", title=title, declared_by=body["user"]["id"],
                         description=view_state.text(values, "description")[:2900],
                         source_channel_id=view_state.metadata(view).get("channel_id"),
                         request_key=f"view:{view['id']}")
    declared = await answer_submission(ack, rt.run(flows.declare, rt.work, req), "title")
    if declared is not None and declared[1]:
        await rt.run_slow(rt.provisioner.provision, declared[0].id)


@view(views.UPDATE_VIEW)
async def update_submitted(rt: Runtime, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    values = view["state"]["values"]
    fields = cmd.UpdateFields(status=view_state.selected(values, "status") or None,
                              impact=view_state.text(values, "impact") or None,
                              actions=view_state.text(values, "actions") or None, eta=view_state.text(values, "eta"))
    errors = {}
    if fields.status not in views.STATUSES:
        errors["status"] = "Pick the current status."
    for block in ("impact", "actions"):
        if not (getattr(fields, block) or "").strip():
            errors[block] = f"Say something about the {block}."
    incident_id = view_state.metadata(view).get("incident_id")
    if not isinstance(incident_id, int):
        errors["status"] = "This form is not attached to an incident; open it again from the channel."
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    user = body["user"]["id"]
    await answer_submission(ack, rt.run(flows.by_id, rt.work, incident_id,
                                        lambda ctx, inc: service.post_update(ctx, inc, fields, user)), "status")
