"""The maintenance-window form and the buttons in a window's thread (checklist ticks, "Enable
maintenance mode"). The `/maintenance` subcommands that open the form or change windows are in
handlers/maintenance.py."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.runtime import Runtime
from bot.windows import flows, views
from bot.windows.forms import parse_form
from handlers.listeners import action, view
from handlers.replies import Click, answer_click, answer_submission

log = structlog.get_logger(__name__)


@view(views.SCHEDULE_VIEW)
async def submitted(rt: Runtime, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Field errors keep the form open and store nothing; a valid form is one window (a double
    submit of the same view is recognised by its ID)."""
    user = body["user"]["id"]
    form = parse_form(view["state"]["values"], rt.playbook.windows.zone, rt.clock())
    if isinstance(form, dict):
        await ack(response_action="errors", errors=form)
        return
    scheduled = await answer_submission(ack, rt.run(flows.schedule, rt.work, form, user, f"view:{view['id']}"),
                                        "title")
    if scheduled is not None:
        log.info("window_scheduled", window_id=scheduled[0], created_by=user)
        rt.slow_pool.submit(rt.safely, rt.windows.run_due)  # notices already due (a late window) go out now


@action(views.TICK)
async def tick(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    """The button's value is ``<window id>:<item key>``."""
    await answer_click(ack, respond, body, lambda c: rt.run(flows.tick, rt.work, c.id, c.key, c.user), keyed=True)


@action(views.ENABLE)
async def enable(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    """The T-30m offer: a request of the enable action through the executor."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")

    async def requested(click: Click) -> str:
        req = await rt.run(flows.enable_request, rt.work, click.id, click.user, channel)
        return await rt.run(rt.executor.request, req)

    await answer_click(ack, respond, body, requested)
