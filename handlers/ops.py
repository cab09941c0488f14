"""`/ops`, `/backup` and `/rollback`: parse, ack, hand the request to the executor (or read the
declared actions, the run history and the backup catalogue)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
    async def shown(what: str) -> str:  # list | history
        return views.action_list(rt.playbook.actions.values()) if what == "list" else await rt.run(rt.executor.history)

    await _answer(rt, ack, respond, command, cmd.parse_ops(command.get("text", "")), cmd.OPS_USAGE, shown)


@command("/backup")
async def backup(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
    async def shown(what: str) -> str:  # list | status | history
        if what == "history":
            return await rt.run(rt.executor.history, "backup.")
        return await rt.run(rt.work, lambda ctx: status.show(ctx, what))

    await _answer(rt, ack, respond, command, cmd.parse_backup(command.get("text", "")), cmd.USAGE, shown)


@command("/rollback")
async def rollback(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
    async def shown(_what: str) -> str:  # history
        return await rt.run(rt.executor.history, "rollback")

    await _answer(rt, ack, respond, command, cmd.parse_rollback(command.get("text", "")), cmd.ROLLBACK_USAGE, shown)


async def _answer(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], parsed: cmd.Command,
                  usage: str, shown: Callable[[str], Awaitable[str]]) -> None:
    match parsed:
        case cmd.ParseError(message):
            await ack(text=message)
        case cmd.Help():
            await ack(text=usage)
        case cmd.Show(what):
            await answer_command(ack, respond, shown(what))
        case cmd.RequestAction(action, params):
            await request_run(rt, ack, respond, command, action, params)


async def request_run(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], action: str,
                      params: dict[str, str]) -> None:
    """A slash command asking for a run: the executor decides whether it may, and says so."""
    req = RunRequest(action=action, params=params, requested_by=command["user_id"],
                     channel_id=command["channel_id"], source="command")
    await answer_command(ack, respond, rt.run(rt.executor.request, req))
