"""The Home tab: published when a person opens it, and its Approve / Deny buttons.

The buttons call the very flows the thread's buttons call (``Executor.decide``, the change
``approve`` step), so the same rules hold: never the requester, membership read live at the
click. A click on a Home tab has no ``response_url`` (there is no channel to answer in), so the
answer is shown at the top of the person's tab, published at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.changes import flows as change_flows
from bot.home import views
from bot.runtime import Runtime
from handlers.listeners import action, event
from handlers.replies import NOT_MINE, Click, clicked, outcome, said


@event("app_home_opened")
async def opened(rt: Runtime, event: dict[str, Any]) -> None:
    """Slack sends this for the Messages tab too (``tab: messages``): only the Home tab is ours."""
    user = event.get("user")
    if event.get("tab") == "home" and isinstance(user, str) and user:
        rt.home.opened(user)


async def _answer_on_tab(rt: Runtime, ack: AsyncAck, body: dict[str, Any],
                         work: Callable[[Click], Awaitable[Any]]) -> None:
    await ack()
    click = clicked(body)
    text = NOT_MINE if click is None else said(await outcome(work(click)))
    rt.home.tell(body["user"]["id"], text)


@action(views.APPROVE_RUN)
async def approve_run(rt: Runtime, ack: AsyncAck, body: dict[str, Any]) -> None:
    await _answer_on_tab(rt, ack, body, lambda c: rt.run(rt.executor.decide, c.id, c.user, approve=True))


@action(views.DENY_RUN)
async def deny_run(rt: Runtime, ack: AsyncAck, body: dict[str, Any]) -> None:
    await _answer_on_tab(rt, ack, body, lambda c: rt.run(rt.executor.decide, c.id, c.user, approve=False))


@action(views.APPROVE_CHANGE)
async def approve_change(rt: Runtime, ack: AsyncAck, body: dict[str, Any]) -> None:
    await _answer_on_tab(rt, ack, body, lambda c: rt.run(change_flows.step, rt.work, c.id, "approve", c.user))
