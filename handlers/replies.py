"""Answering Slack within its 3 seconds, and the one place where a refusal or a failure becomes
the text a person reads.

``outcome`` is where a flow's ``Refusal`` (bot/refusal.py) is caught and shown as it is, where a
database that does not answer (restarting, unreachable, a lock or statement timeout) is answered
with ``TRY_AGAIN``, and where anything else is logged and answered with ``SORRY``: a user never
sees a stack trace. Every reply below goes through it. Slash commands are answered in the ack when
the work finishes inside the budget, otherwise the ack says "working on it" and the answer follows
through ``response_url``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.refusal import Refusal
from bot.slack.reply import Reply

T = TypeVar("T")
log = structlog.get_logger(__name__)
ACK_BUDGET_SECONDS = 2.0
SORRY = "Something went wrong on our side; nothing was changed. The error is in the bot's log."
TRY_AGAIN = "The bot's database is not answering just now, so nothing could be saved. Please try again in a minute."
NOT_MINE = "That button is not one of mine."
WORKING = "Working on it…"


@dataclass(frozen=True)
class Refused:
    """The work said no (or failed): ``text`` is what the person reads."""

    text: str


@dataclass(frozen=True)
class Click:
    """A button click: who clicked, and the button's value ``<id>`` or ``<id>:<key>``."""

    user: str
    id: int
    key: str


async def outcome(work: Awaitable[T]) -> T | Refused:
    try:
        return await work
    except Refusal as exc:
        return Refused(str(exc))
    except (OperationalError, InterfaceError, PoolTimeout) as exc:  # restarting, unreachable, locked too long
        log.warning("database_unavailable", error=type(exc.orig if isinstance(exc, DBAPIError) else exc).__name__)
        return Refused(TRY_AGAIN)
    except Exception:
        log.exception("handler_failed")
        return Refused(SORRY)


def said(result: object) -> str:
    return result.text if isinstance(result, Refused) else str(result)


async def ephemeral(respond: AsyncRespond, text: str, blocks: list[dict] | None = None) -> None:
    """A message only the person who typed or clicked sees."""
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


async def _within_budget(ack: AsyncAck, work: Awaitable[T]) -> tuple[T | Refused, bool]:
    """The work's outcome, and whether the ack had to go first ("working on it")."""
    task = asyncio.ensure_future(outcome(work))
    done, _ = await asyncio.wait({task}, timeout=ACK_BUDGET_SECONDS)
    if done:
        return task.result(), False
    await ack(text=WORKING)
    return await task, True


async def answer_command(ack: AsyncAck, respond: AsyncRespond, work: Awaitable[Any]) -> None:
    """A slash command whose answer is the work's text (or a ``Reply`` with buttons)."""
    result, acked = await _within_budget(ack, work)
    blocks = result.blocks if isinstance(result, Reply) else None
    if acked:
        await ephemeral(respond, said(result), blocks)
    elif blocks:
        await ack(text=said(result), blocks=blocks)
    else:
        await ack(text=said(result))


async def open_form(ack: AsyncAck, respond: AsyncRespond, client: AsyncWebClient, trigger_id: str,
                    form: Awaitable[dict] | dict, *, acked: bool = False) -> None:
    """Open a form; the work that builds it may refuse, and then that is the answer instead.
    ``acked``: a button, acknowledged already (a slash command is acknowledged here)."""
    if isinstance(form, dict):
        result: dict | Refused = form
    else:
        result, acked = (await outcome(form), acked) if acked else await _within_budget(ack, form)
    if isinstance(result, Refused):
        await (ephemeral(respond, result.text) if acked else ack(text=result.text))
        return
    if not acked:
        await ack()
    try:
        await client.views_open(trigger_id=trigger_id, view=result)
    except SlackClientError as exc:  # the trigger expired (3 s), Slack refused the view or was unreachable
        error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
        log.warning("views_open_failed", error=error)
        await ephemeral(respond, "Slack would not open the form (it took too long); please run the command again.")


def clicked(body: dict[str, Any], *, keyed: bool = False) -> Click | None:
    """The one reader of button values; None for a value none of our buttons carries."""
    head, _, key = str(body["actions"][0].get("value", "")).partition(":")
    if not head.isdigit() or len(head) > 9 or (keyed and not key):
        return None
    return Click(body["user"]["id"], int(head), key)


async def answer_click(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any],
                       work: Callable[[Click], Awaitable[Any]], *, keyed: bool = False) -> None:
    """A button: acknowledged at once, then the work's answer to the person who clicked."""
    await ack()
    click = clicked(body, keyed=keyed)
    await ephemeral(respond, NOT_MINE if click is None else said(await outcome(work(click))))


async def open_form_on_click(ack: AsyncAck, respond: AsyncRespond, client: AsyncWebClient, body: dict[str, Any],
                             form: Callable[[Click], Awaitable[dict]]) -> None:
    """A button that opens a form: acknowledged at once; the work that builds the form may refuse."""
    await ack()
    click = clicked(body)
    if click is None:
        await ephemeral(respond, NOT_MINE)
        return
    await open_form(ack, respond, client, body["trigger_id"], form(click), acked=True)


async def answer_submission(ack: AsyncAck, work: Awaitable[T], field: str) -> T | None:
    """A form's submission: the form closes when the work is done, and stays open with the refusal
    under ``field`` when it is not (None then)."""
    result = await outcome(work)
    if isinstance(result, Refused):
        await ack(response_action="errors", errors={field: result.text})
        return None
    await ack()
    return result
