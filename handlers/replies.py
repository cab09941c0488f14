"""Acknowledge within Slack's 3 seconds whatever the work costs.

The work starts at once; if it finishes inside the budget its answer rides on the ack,
otherwise the ack says "working on it" and the answer follows through response_url.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError

from bot.executor.service import ExecutorError
from bot.incidents.service import IncidentError
from bot.slack.gateway import SlackRejected, SlackUnavailable

log = structlog.get_logger(__name__)
ACK_BUDGET_SECONDS = 2.0
SORRY = "Something went wrong on our side; nothing was changed. The error is in the bot's log."


async def answer(work: Awaitable[Any]) -> str:
    """The text for the user: the work's reply, or a clear message on failure (never a trace)."""
    try:
        return str(await work)
    except (IncidentError, ExecutorError) as exc:
        return str(exc)
    except Exception:
        log.exception("handler_failed")
        return SORRY


async def ack_with(ack: AsyncAck, respond: AsyncRespond, work: Awaitable[Any]) -> None:
    task = asyncio.ensure_future(answer(work))
    done, _ = await asyncio.wait({task}, timeout=ACK_BUDGET_SECONDS)
    if done:
        await ack(text=task.result())
        return
    await ack(text="Working on it…")
    await respond(text=await task, response_type="ephemeral", replace_original=False)


async def open_form(opening: Awaitable[Any], respond: AsyncRespond) -> None:
    """Await a ``views.open``; when Slack refuses (the trigger expired after 3 s), say so instead."""
    try:
        await opening
    except (SlackApiError, SlackRejected, SlackUnavailable) as exc:
        error = exc.response.get("error") if isinstance(exc, SlackApiError) else str(exc)
        log.warning("views_open_failed", error=error)
        await respond(text="Slack would not open the form (it took too long); please run the command again.",
                      response_type="ephemeral", replace_original=False)
