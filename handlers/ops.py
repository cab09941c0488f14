"""`/ops`: request any declared action by name (the playbook's actions.yaml is the whole menu)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.executor import commands as cmd
from bot.executor import views
from bot.executor.service import RunRequest
from bot.runtime import Runtime
from handlers.replies import ack_with


def register(app: AsyncApp, rt: Runtime) -> None:
    async def ops(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        match cmd.parse_ops(command.get("text", "")):
            case cmd.ParseError(message):
                await ack(text=message)
            case cmd.Help():
                await ack(text=cmd.OPS_USAGE)
            case cmd.Show("list"):
                await ack(text=views.action_list(rt.playbook.actions.values()))
            case cmd.Show(_):
                await ack_with(ack, respond, rt.run(rt.executor.history))
            case cmd.RequestAction(action, params):
                await request_run(rt, ack, respond, command, action, params)

    app.command("/ops")(ops)


async def request_run(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], action: str,
                      params: dict[str, str]) -> None:
    """A slash command asking for a run: the executor decides whether it may, and says so."""
    req = RunRequest(action=action, params=params, requested_by=command["user_id"],
                     channel_id=command["channel_id"], source="command")
    await ack_with(ack, respond, rt.run(rt.executor.request, req))
