"""Approve, Deny, Cancel, Request again and question buttons on runs: ack at once, then the
executor decides (it checks every click against the declaration, so a button grants nothing)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.executor import views
from bot.runtime import Runtime
from handlers.listeners import action
from handlers.replies import answer_click


@action(views.APPROVE)
async def approve(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: rt.run(rt.executor.decide, c.id, c.user, approve=True))


@action(views.DENY)
async def deny(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: rt.run(rt.executor.decide, c.id, c.user, approve=False))


@action(views.CANCEL)
async def cancel(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: rt.run(rt.executor.cancel, c.id, c.user))


@action(views.RETRY)
async def retry(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await answer_click(ack, respond, body, lambda c: rt.run(rt.executor.retry, c.id, c.user))


@action(re.compile(rf"^{views.ANSWER}:"))
async def answer_question(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    """A button of a question a running run asked: value ``<question id>:<choice>``."""
    await answer_click(ack, respond, body, lambda c: rt.run(rt.executor.answer, c.id, c.key, c.user), keyed=True)
