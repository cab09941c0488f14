"""`/change`, its request form and the buttons in each request's thread: parse, ack, call the
change desk (bot/changes), answer. Every click is checked by the service; a button grants nothing."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.changes import service, views
from bot.changes.flows import ChangeDesk
from bot.changes.models import ChangeError, parse_form
from bot.runtime import Runtime
from handlers.replies import ack_with, answer, open_form
from storage.changes import DONE, ROLLED_BACK

log = structlog.get_logger(__name__)
USAGE = """*`/change`* — change requests (procedures 5.2)
• `/change request` — open the change request form (Standard, Normal or Emergency)
• `/change list` — open requests first, then recent ones
• `/change show CR-2026-0001` — the request, its approvals and timeline
• `/change approve|start|done|rollback CR-2026-0001` — the same as the buttons in the request's thread
• `/change link CR-2026-0001 #incident-channel` (or `INC-0001`) — the change caused that incident
• `/change link CR-2026-0001 window 3` (or `MW-3`) — the change runs in maintenance window MW-3
• `/change help` — this text"""
_NUMBER = re.compile(r"CR-[0-9]{4}-[0-9]{4,}", re.IGNORECASE)
Step = Callable[[service.Ctx, Any, str], str]
_STEPS: dict[str, Step] = {
    "approve": service.approve,
    "start": service.start,
    "done": lambda ctx, cr, user: service.finish(ctx, cr, user, DONE),
    "rollback": lambda ctx, cr, user: service.finish(ctx, cr, user, ROLLED_BACK),
}


def register(app: AsyncApp, rt: Runtime) -> None:
    ChangeHandlers(rt).register(app)


async def _said(work: Awaitable[Any]) -> Any:
    """A refusal from the rules is the answer itself."""
    try:
        return await work
    except ChangeError as exc:
        return str(exc)


class ChangeHandlers:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.desk = ChangeDesk(rt.engine, rt.playbook, rt.clock, rt.executor.directory, rt.kick_delivery)

    def register(self, app: AsyncApp) -> None:
        app.command("/change")(self.command)
        app.view(views.REQUEST_VIEW)(self.submitted)
        app.action(views.APPROVE)(self._button("approve"))
        app.action(views.START)(self._button("start"))
        app.action(views.DONE)(self._button("done"))
        app.action(views.ROLLBACK)(self._button("rollback"))
        app.action(views.TICK)(self.tick)

    async def command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond,
                      client: AsyncWebClient) -> None:
        words = (command.get("text") or "").split()
        verb = words[0].lower() if words else "help"
        user = command["user_id"]
        if verb == "help":
            await ack(text=USAGE)
        elif verb == "request":
            await ack()
            await open_form(client.views_open(trigger_id=command["trigger_id"],
                                              view=views.request_modal(self.rt.playbook)), respond)
        elif verb == "list":
            await ack_with(ack, respond, _said(self.rt.run(self.desk.list)))
        elif verb in ("show", "link", *_STEPS):
            number = words[1] if len(words) > 1 else ""
            if not _NUMBER.fullmatch(number):
                await ack(text=f"Say which change request, like `/change {verb} CR-2026-0001`.")
            elif verb == "show":
                await ack_with(ack, respond, _said(self.rt.run(self.desk.show, number)))
            elif verb == "link":
                target = " ".join(words[2:])
                if not target:
                    await ack(text="Link to what? `/change link CR-… #incident-channel`, `INC-0001` or `window 3`.")
                    return
                await ack_with(ack, respond, _said(self.rt.run(self.desk.link, number, target, user)))
            else:
                step = _STEPS[verb]
                await ack_with(ack, respond, _said(self.rt.run(
                    self.desk.by_number, number, lambda ctx, cr: step(ctx, cr, user))))
        else:
            await ack(text=f"`/change {verb}` is not something I know.\n{USAGE}")

    async def submitted(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        form = parse_form(view["state"]["values"], self.rt.playbook.changes, user)
        if isinstance(form, dict):
            await ack(response_action="errors", errors=form)
            return
        try:
            problem = await self.rt.run(self.desk.approver_problem, form, user)
        except Exception:
            log.warning("approver_check_failed", exc_info=True)
            problem = "Could not check the approver with Slack just now; please submit again."
        if problem:
            await ack(response_action="errors", errors={"approver": problem})
            return
        try:
            number, _created = await self.rt.run(self.desk.submit, form, user, f"view:{view['id']}")
        except Exception:
            log.exception("change_request_failed")
            await ack(response_action="errors", errors={"description": "Could not record the request; try again."})
            return
        await ack()
        log.info("change_requested", number=number, requested_by=user)

    def _button(self, verb: str) -> Callable[..., Awaitable[None]]:
        step = _STEPS[verb]

        async def click(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await self._click(ack, body, respond, lambda user, change_id, _key: self.desk.by_id(
                change_id, lambda ctx, cr: step(ctx, cr, user)))

        return click

    async def tick(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await self._click(ack, body, respond, lambda user, change_id, key: self.desk.by_id(
            change_id, lambda ctx, cr: service.tick(ctx, cr, key, user)))

    async def _click(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                     fn: Callable[[str, int, str], str]) -> None:
        await ack()
        parsed = views.parse_action_value(str(body["actions"][0].get("value", "")))
        if parsed is None:
            await respond(text="That button is not one of mine.", response_type="ephemeral", replace_original=False)
            return
        change_id, key = parsed
        text = await answer(_said(self.rt.run(fn, body["user"]["id"], change_id, key)))
        await respond(text=text, response_type="ephemeral", replace_original=False)

