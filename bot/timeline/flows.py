"""Entry points for what Slack tells about messages: each Events API delivery is one unit of work
that changes things once per ``event_id`` (``capture.handled``), and the message shortcut's form."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import delete
from sqlmodel import col

from bot.incidents import service as incidents
from bot.refusal import Refusal
from bot.timeline import capture, views
from bot.timeline.capture import Captured, SlackMessage
from bot.work import Ctx, UnitOfWork
from storage.models import Incident
from storage.timeline import SlackEvent

T = TypeVar("T")
KEEP_EVENTS = timedelta(days=1)


def on_event(work: UnitOfWork, event_id: str | None, fn: Callable[[Ctx], T]) -> T | None:
    """``fn``'s result, recorded with the delivery when it changed something; None for a delivery
    already handled (Slack's retry, here or on another replica)."""

    def once(ctx: Ctx) -> T:
        result = fn(ctx)
        if result:
            capture.handled(ctx, event_id)
        return result

    def again() -> T | None:
        """Another writer took a row this one wanted (two reactions at once): once more, now
        seeing theirs; a repeat of an event handled meanwhile then ends here."""
        return work(once, on_conflict=lambda: None)

    return work(once, on_conflict=again)


def shortcut_form(work: UnitOfWork, message: SlackMessage) -> dict:
    """The "Add to incident timeline" form: which open incident (the channel's own preselected)."""

    def build(ctx: Ctx) -> dict:
        open_incidents = incidents.open_incidents(ctx.session)
        if not open_incidents:
            raise Refusal("There is no open incident to add this message to.")
        capture.remember(ctx, message)
        here = next((i for i in open_incidents if i.channel_id == message.channel), None)
        return views.shortcut_modal(ctx.playbook, open_incidents, here, message)

    return work(build)


def add_from_form(work: UnitOfWork, metadata: str, incident_id: int, by: str) -> Captured | None:
    """The form's submission; its metadata names the message. None when it was on that timeline."""
    try:
        where = json.loads(metadata)
        channel, ts = str(where["channel"]), str(where["ts"])
    except (ValueError, KeyError, TypeError):
        raise Refusal("This form no longer knows its message; use the shortcut on the message again.") from None

    def add(ctx: Ctx) -> Captured | None:
        incident = ctx.session.get(Incident, incident_id)
        if incident is None or incident.status != "open":
            raise Refusal("That incident is no longer open; pick another.")
        return capture.add_with_shortcut(ctx, incident, channel, ts, by)

    return work(add, on_conflict=lambda: work(add, on_conflict=lambda: None))


def forget_old_events(work: UnitOfWork) -> int:
    """Handled event ids are kept a day: Slack retries a delivery within minutes, not days."""
    return work(lambda ctx: ctx.session.exec(delete(SlackEvent).where(  # type: ignore[call-overload]
        col(SlackEvent.received_at) < ctx.now - KEEP_EVENTS)).rowcount)


def set_permalink(work: UnitOfWork, captured: Captured, permalink: str) -> None:
    work(lambda ctx: capture.set_permalink(ctx, captured, permalink))
