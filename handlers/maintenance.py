"""`/maintenance`: a table of subcommands, each parsing its text, acking and calling a service.

Maintenance mode (``enable``, ``disable``, ``status``) lives here; scheduled windows add their own
entries (``handlers/maintenance_windows.py``). ``help`` lists whatever the table holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.maintenance import commands, mode, views
from bot.runtime import Runtime
from handlers import maintenance_windows
from handlers.ops import request_run
from handlers.replies import ack_with
from storage.db import session_scope

Handler = Callable[[Runtime, AsyncAck, AsyncRespond, dict[str, Any], str], Awaitable[None]]


@dataclass(frozen=True)
class Subcommand:
    run: Handler
    usage: str
    """One line for help: the syntax, then what it does."""


async def _enable(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], text: str) -> None:
    match commands.parse_enable(text):
        case commands.ParseError(message):
            await ack(text=message)
        case commands.EnableRequest(params):
            await request_run(rt, ack, respond, command, mode.ENABLE, params)


async def _disable(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], text: str) -> None:
    if text.strip():
        await ack(text="`/maintenance disable` takes no arguments.")
        return
    await request_run(rt, ack, respond, command, mode.DISABLE, {})


async def _status(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], text: str) -> None:
    def read() -> str:
        with session_scope(rt.engine) as session:
            found = mode.status(session, rt.playbook)
        return rt.executor.redact(views.status_text(found, rt.playbook.maintenance))

    await ack_with(ack, respond, rt.run(read))


async def _help(rt: Runtime, ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], text: str) -> None:
    await ack(text=usage())


SUBCOMMANDS: dict[str, Subcommand] = {
    "enable": Subcommand(_enable, "`/maintenance enable [reason…] [eta]` — maintenance page up (503), jobs drained, "
                         "consumers stopped, backup, flag; eta like `23:00` or `2h` (1 approval)"),
    "disable": Subcommand(_disable, "`/maintenance disable` — normal site back, jobs and scheduler restarted, "
                          "health checked (1 approval)"),
    "status": Subcommand(_status, "`/maintenance status` — on or off, since when, by whom, ETA, queue depth"),
    **{name: Subcommand(run, use) for name, (run, use) in maintenance_windows.SUBCOMMANDS.items()},
    "help": Subcommand(_help, "`/maintenance help` — this list"),
}


def usage() -> str:
    return "\n".join(["*`/maintenance`* — maintenance mode and windows (procedures 5.4)",
                      *(f"• {sub.usage}" for sub in SUBCOMMANDS.values())])


def register(app: AsyncApp, rt: Runtime) -> None:
    async def maintenance(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        words = (command.get("text") or "").split(maxsplit=1)
        verb, rest = (words[0], words[1] if len(words) > 1 else "") if words else ("help", "")
        sub = SUBCOMMANDS.get(verb.lower())
        if sub is None:
            await ack(text=f"Unknown subcommand `{verb[:30]}`. Try `/maintenance help`.")
            return
        await sub.run(rt, ack, respond, command, rest.strip())

    app.command("/maintenance")(maintenance)
    maintenance_windows.register(app, rt)  # the schedule form and the buttons in a window's thread
