"""`/ops`, `/backup` and `/rollback`: parse, ack, hand the request to the executor (or read the
declared actions, the run history and the backup catalogue)."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.executor import commands as cmd
from bot.executor import views
from bot.executor.service import RunRequest
from bot.ops.backup import status
from bot.runtime import Runtime
from handlers.listeners import command
from handlers.replies import answer_command


@command("/ops")
async def ops(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
    match cmd.parse_ops(command.get("text", "")):
        case cmd.ParseError(message):
            await ack(text=message)
        case cmd.Help():
            await ack(text=cmd.OPS_USAGE)
        case cmd.Show("list"):
            await ack(text=views.action_list(rt.playbook.actions.values()))
        case cmd.Show(_):
            await answer_command(ack, respond, rt.run(rt.executor.history))
        case cmd.RequestAction(action, params):
            await request_run(rt, ack, respond, command, action, params)


@command("/backup")
async def backup(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
    match cmd.parse_backup(command.get("text", "")):
        case cmd.ParseError(message):
            await ack(text=message)
        case cmd.Help():
            await ack(text=cmd.USAGE)
        case cmd.Show("history"):
            await answer_command(ack, respond, rt.run(rt.executor.history, "backup."))
        case cmd.Show(what):
            await answer_command(ack, respond, rt.run(rt.work, lambda ctx: status.show(ctx, what)))
        case cmd.RequestAction(action, params):
            await request_run(rt, ack, respond, command, action, params)


@command("/rollback")
async def rollback(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
    match cmd.parse_rollback(command.get("text", "")):
        case cmd.ParseError(message):
            await ack(text=message)
        case cmd.Help():
            await ack(text=cmd.ROLLBACK_USAGE)
        case cmd.Show(_):
            await answer_command(ack, respond, rt.run(rt.executor.history, "rollback"))
        case cmd.RequestAction(action, params):
            await request_run(rt, ack, respond, command, action, params)


async def request_run(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], action: str,
                      params: dict[str, str]) -> None:
    """A slash command asking for a run: the executor decides whether it may, and says so."""
    req = RunRequest(action=action, params=params, requested_by=command["user_id"],
                     channel_id=command["channel_id"], source="command")
    await answer_command(ack, respond, rt.run(rt.executor.request, req))
