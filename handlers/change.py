"""`/change`, its request form and the buttons in each request's thread: parse, ack, call the
change flows (bot/changes), answer. Every click is checked by the service; a button grants nothing."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.changes import commands as cmd
from bot.changes import flows, service, views
from bot.changes.commands import StepName
from bot.changes.forms import parse_form
from bot.runtime import Runtime
from handlers.listeners import action, command, view
from handlers.replies import Click, answer_click, answer_command, answer_submission, open_form, outcome, said

log = structlog.get_logger(__name__)


@command("/change")
async def change(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond,
                 client: AsyncWebClient) -> None:
    user = command["user_id"]
    match cmd.parse(command.get("text", "")):
        case cmd.ParseError(message):
            await ack(text=message)
        case cmd.Help():
            await ack(text=cmd.USAGE)
        case cmd.OpenRequestForm():
            await open_form(ack, respond, client, command["trigger_id"], views.request_modal(rt.playbook))
        case cmd.ListChanges():
            await answer_command(ack, respond, rt.run(flows.listing, rt.work))
        case cmd.Show(number):
            await answer_command(ack, respond, rt.run(flows.show, rt.work, number))
        case cmd.Step(step, number):
            await answer_command(ack, respond, rt.run(flows.step, rt.work, number, step, user))
        case cmd.LinkIncident() | cmd.LinkWindow() as link:
            await answer_command(ack, respond, rt.run(flows.link, rt.work, link, user))


@view(views.REQUEST_VIEW)
async def submitted(rt: Runtime, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    user = body["user"]["id"]
    form = parse_form(view["state"]["values"], rt.playbook.changes, user)
    if isinstance(form, dict):
        await ack(response_action="errors", errors=form)
        return
    problem = await outcome(rt.run(flows.approver_problem, rt.work, form, user))
    if problem:
        await ack(response_action="errors", errors={"approver": said(problem)})
        return
    requested = await answer_submission(ack, rt.run(flows.submit, rt.work, form, user, f"view:{view['id']}"),
                                        "description")
    if requested is not None:
        log.info("change_requested", number=requested[0], requested_by=user)


def _step(name: StepName) -> Any:
    async def click(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await answer_click(ack, respond, body, lambda c: rt.run(flows.step, rt.work, c.id, name, c.user))

    return click


approve = action(views.APPROVE)(_step("approve"))
start = action(views.START)(_step("start"))
done = action(views.DONE)(_step("done"))
rollback = action(views.ROLLBACK)(_step("rollback"))


@action(views.TICK)
async def tick(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    """The button's value is ``<change id>:<item key>``."""

    async def ticked(c: Click) -> str:
        return await rt.run(flows.by_id, rt.work, c.id, lambda ctx, cr: service.tick(ctx, cr, c.key, c.user))

    await answer_click(ack, respond, body, ticked)
