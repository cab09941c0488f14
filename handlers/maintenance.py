"""`/maintenance`: maintenance mode (``enable``, ``disable``, ``status``: runs of the maintenance
operation through the executor) and maintenance windows (``schedule``, ``windows``, ``cancel``,
``move``). The window form and the buttons in a window's thread are in handlers/windows.py."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.maintenance import commands as cmd
from bot.maintenance import mode, views
from bot.runtime import Runtime
from bot.windows import flows as windows
from bot.work import Ctx
from handlers.listeners import command
from handlers.ops import request_run
from handlers.replies import answer_command, open_form


@command("/maintenance")
async def maintenance(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond,
                      client: AsyncWebClient) -> None:
    user = command["user_id"]
    match cmd.parse(command.get("text", "")):
        case cmd.ParseError(message):
            await ack(text=message)
        case cmd.Help():
            await ack(text=cmd.USAGE)
        case cmd.EnableRequest(params):
            await request_run(rt, ack, respond, command, mode.ENABLE, params)
        case cmd.Disable():
            await request_run(rt, ack, respond, command, mode.DISABLE, {})
        case cmd.ShowStatus():
            await answer_command(ack, respond, rt.run(rt.work, _status))
        case cmd.OpenScheduleForm():
            await open_form(ack, respond, client, command["trigger_id"], rt.run(windows.schedule_form, rt.work, user))
        case cmd.ListWindows():
            await answer_command(ack, respond, rt.run(windows.listing, rt.work))
        case cmd.CancelWindow(window_id):
            await answer_command(ack, respond, rt.run(windows.cancel, rt.work, window_id, user))
        case cmd.MoveWindow(window_id, start):
            await answer_command(ack, respond, rt.run(windows.move, rt.work, window_id, start, user))


def _status(ctx: Ctx) -> str:
    return ctx.redact(views.status_text(mode.status(ctx.session, ctx.playbook), ctx.playbook.maintenance))
