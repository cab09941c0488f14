"""Approve, Deny, Cancel, Request again and question buttons on runs: ack at once, then the executor decides (it checks
every click against the declaration, so the button itself grants nothing)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.executor import views
from bot.runtime import Runtime
from handlers.replies import answer


def register(app: AsyncApp, rt: Runtime) -> None:
    async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await _click(ack, body, respond, lambda run_id, user: rt.executor.decide(run_id, user, approve=True))

    async def deny(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await _click(ack, body, respond, lambda run_id, user: rt.executor.decide(run_id, user, approve=False))

    async def cancel(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await _click(ack, body, respond, rt.executor.cancel)

    async def _click(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, fn: Any) -> None:
        await ack()
        value = str(body["actions"][0].get("value", ""))
        if not value.isdigit():
            await respond(text="That button is not one of mine.", response_type="ephemeral", replace_original=False)
            return
        text = await answer(rt.run(fn, int(value), body["user"]["id"]))
        await respond(text=text, response_type="ephemeral", replace_original=False)

    app.action(views.APPROVE)(approve)
    app.action(views.DENY)(deny)
    async def retry(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await _click(ack, body, respond, rt.executor.retry)

    app.action(views.CANCEL)(cancel)
    app.action(views.RETRY)(retry)

    async def answer_question(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """A button of a question a running run asked: value ``<question id>:<choice>``."""
        await ack()
        question, _, choice = str(body["actions"][0].get("value", "")).partition(":")
        if not question.isdigit() or not choice:
            await respond(text="That button is not one of mine.", response_type="ephemeral", replace_original=False)
            return
        text = await answer(rt.run(rt.executor.answer, int(question), choice, body["user"]["id"]))
        await respond(text=text, response_type="ephemeral", replace_original=False)

    app.action(re.compile(rf"^{views.ANSWER}:"))(answer_question)
