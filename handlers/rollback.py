"""`/rollback`: parse, ack, hand the request to the executor."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.executor import commands as cmd
from bot.runtime import Runtime
from handlers.ops import request_run
from handlers.replies import ack_with


def register(app: AsyncApp, rt: Runtime) -> None:
    async def rollback(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        match cmd.parse_rollback(command.get("text", "")):
            case cmd.ParseError(message):
                await ack(text=message)
            case cmd.Help():
                await ack(text=cmd.ROLLBACK_USAGE)
            case cmd.Show(_):
                await ack_with(ack, respond, rt.run(rt.executor.history, "rollback"))
            case cmd.RequestAction(action, params):
                await request_run(rt, ack, respond, command, action, params)

    app.command("/rollback")(rollback)
