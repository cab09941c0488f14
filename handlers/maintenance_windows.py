"""`/maintenance schedule|windows|cancel|move`, the schedule form and the buttons in a window's
thread (checklist ticks, "Enable maintenance mode"): parse, ack, call the window desk
(bot/windows), answer. The subcommands are entries of `/maintenance`'s dispatch table
(handlers/maintenance.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.executor.service import RunRequest
from bot.runtime import Runtime
from bot.windows import views
from bot.windows.flows import WindowDesk
from bot.windows.models import WindowError, parse_form
from bot.windows.timers import WindowTimers
from handlers.replies import ack_with, answer, open_form

log = structlog.get_logger(__name__)


def desk(rt: Runtime) -> WindowDesk:
    return WindowDesk(rt.engine, rt.playbook, rt.clock, rt.executor.directory, rt.kick_delivery)


async def _said(work: Awaitable[Any]) -> Any:
    """A refusal from the rules is the answer itself."""
    try:
        return await work
    except WindowError as exc:
        return str(exc)


def _window_id(word: str) -> int | None:
    """``3``, ``MW-3`` or ``mw-3``."""
    digits = word[3:] if word.lower().startswith("mw-") else word
    return int(digits) if digits.isdigit() and len(digits) < 10 else None


# -- subcommands (entries of /maintenance's dispatch table) -----------------------------------------
async def schedule(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], text: str) -> None:
    if text:
        await ack(text="`/maintenance schedule` takes no arguments; it opens the form.")
        return
    await ack()
    try:
        refused = await rt.run(desk(rt).may_plan, command["user_id"])
    except Exception:
        log.exception("planner_check_failed")
        refused = "Could not check with Slack who may schedule windows; please try again."
    if refused:
        await respond(text=refused, response_type="ephemeral", replace_original=False)
        return
    modal = views.schedule_modal(rt.playbook.windows)
    await open_form(rt.run_slow(rt.gateway.call, "views.open", {"trigger_id": command["trigger_id"], "view": modal}),
                    respond)


async def windows(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], text: str) -> None:
    await ack_with(ack, respond, rt.run(desk(rt).listing))


async def cancel(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], text: str) -> None:
    args = text.split()
    window_id = _window_id(args[0]) if len(args) == 1 else None
    if window_id is None:
        await ack(text="Say which window, like `/maintenance cancel 3` (`/maintenance windows` lists them).")
        return
    await ack_with(ack, respond, _said(rt.run(desk(rt).cancel, window_id, command["user_id"])))


async def move(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], text: str) -> None:
    args = text.split()
    window_id = _window_id(args[0]) if args else None
    if window_id is None or len(args) < 2:
        await ack(text="Say which window and its new start, like `/maintenance move 3 2026-12-06 22:00` "
                       f"({rt.playbook.windows.timezone}).")
        return
    await ack_with(ack, respond, _said(rt.run(desk(rt).move, window_id, " ".join(args[1:]), command["user_id"])))


Subcommand = Callable[[Runtime, AsyncAck, AsyncRespond, dict[str, Any], str], Awaitable[None]]
SUBCOMMANDS: dict[str, tuple[Subcommand, str]] = {
    "schedule": (schedule, "`/maintenance schedule` — open the form: start, duration, title, activities, "
                           "expected impact, services"),
    "windows": (windows, "`/maintenance windows` — upcoming windows, scheduled and standing"),
    "cancel": (cancel, "`/maintenance cancel <id>` — cancel a window (a notice goes out if it was announced)"),
    "move": (move, "`/maintenance move <id> YYYY-MM-DD HH:MM` — move a window; its notices follow"),
}
"""name → (handler, one line of help), merged into /maintenance's table."""


# -- the form and the buttons -----------------------------------------------------------------------
def register(app: AsyncApp, rt: Runtime) -> None:
    async def on_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await submitted(rt, ack, body, view)

    async def on_tick(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await tick(rt, ack, body, respond)

    async def on_enable(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await enable(rt, ack, body, respond)

    app.view(views.SCHEDULE_VIEW)(on_submit)
    app.action(views.TICK)(on_tick)
    app.action(views.ENABLE)(on_enable)


async def submitted(rt: Runtime, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    """Field errors keep the form open and store nothing; a valid form is one window (a double
    submit of the same view is recognised by its ID)."""
    user = body["user"]["id"]
    form = parse_form(view["state"]["values"], rt.playbook.windows.zone, rt.clock())
    if isinstance(form, dict):
        await ack(response_action="errors", errors=form)
        return
    try:
        window_id, _created = await rt.run(desk(rt).schedule, form, user, f"view:{view['id']}")
    except WindowError as exc:
        await ack(response_action="errors", errors={"title": str(exc)})
        return
    except Exception:
        log.exception("window_schedule_failed")
        await ack(response_action="errors", errors={"title": "Could not record the window; try again."})
        return
    await ack()
    log.info("window_scheduled", window_id=window_id, created_by=user)
    timers = WindowTimers(rt.engine, rt.playbook, rt.clock, rt.kick_delivery)
    rt.slow_pool.submit(Runtime._safely, timers.run_due)  # notices already due (a late window) go out now


async def tick(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await ack()
    window_id, _, key = str(body["actions"][0].get("value", "")).partition(":")
    if not window_id.isdigit() or not key:
        text = "That button is not one of mine."
    else:
        text = await answer(_said(rt.run(desk(rt).tick, int(window_id), key, body["user"]["id"])))
    await respond(text=text, response_type="ephemeral", replace_original=False)


async def enable(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    """The T-30m offer: a request of the enable action through the executor, whose approvals,
    lock and audit apply as for any request; the button grants nothing."""
    await ack()
    value = str(body["actions"][0].get("value", ""))
    if not value.isdigit():
        text = "That button is not one of mine."
    else:
        text = await answer(_said(_request_enable(rt, int(value), body)))
    await respond(text=text, response_type="ephemeral", replace_original=False)


async def _request_enable(rt: Runtime, window_id: int, body: dict[str, Any]) -> str:
    action, params = await rt.run(desk(rt).enable_params, window_id)
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
    req = RunRequest(action=action, params=params, requested_by=body["user"]["id"], channel_id=channel,
                     source="command")
    return await rt.run(rt.executor.request, req)
