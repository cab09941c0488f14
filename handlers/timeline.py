"""The incident record from Slack: messages in incident channels as their events arrive, timeline
reactions, and the "Add to incident timeline" message shortcut with its form. Each event is
acknowledged at once (handlers/listeners.py) and handled once per ``event_id``."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import Runtime
from bot.slack import view_state
from bot.timeline import capture, flows, views
from bot.timeline.capture import Captured, SlackMessage
from handlers.listeners import event, shortcut, view
from handlers.replies import Refused, answer_submission, open_form, outcome

NEW = (None, "bot_message", "thread_broadcast", "file_share", "me_message")
"""Message subtypes that are someone saying something (not joins, topic changes…)."""


async def channel_message(rt: Runtime, event: dict[str, Any], body: dict[str, Any]) -> None:
    """A message posted, edited or deleted (handlers/messages.py hands each one here)."""
    channel, subtype = event.get("channel"), event.get("subtype")
    if not isinstance(channel, str):
        return
    if subtype == "message_changed":
        changed = _message(channel, event.get("message"))
        if changed is not None:
            await _once(rt, body, lambda ctx: capture.edited(ctx, changed))
    elif subtype == "message_deleted":
        ts = event.get("deleted_ts")
        if isinstance(ts, str):
            await _once(rt, body, lambda ctx: capture.deleted(ctx, channel, ts))
    elif subtype in NEW:
        posted = _message(channel, event)
        if posted is not None:
            await _once(rt, body, lambda ctx: capture.seen(ctx, posted))


@event("reaction_added")
async def reaction_added(rt: Runtime, event: dict[str, Any], body: dict[str, Any]) -> None:
    reaction = _reaction(event)
    if reaction is not None:
        captured = await _once(rt, body, lambda ctx: capture.reacted(ctx, *reaction))
        if isinstance(captured, Captured):
            await rt.run_slow(rt.history.link, captured)


@event("reaction_removed")
async def reaction_removed(rt: Runtime, event: dict[str, Any], body: dict[str, Any]) -> None:
    reaction = _reaction(event)
    if reaction is not None:
        await _once(rt, body, lambda ctx: capture.unreacted(ctx, *reaction))


def _reaction(event: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """(channel, message ts, user, emoji) of a reaction to a message; None for anything else."""
    item, user, name = event.get("item") or {}, event.get("user"), event.get("reaction")
    channel, ts = item.get("channel"), item.get("ts")
    if item.get("type") != "message" or not all(isinstance(v, str) for v in (user, name, channel, ts)):
        return None
    return channel, ts, user, name


@shortcut(views.SHORTCUT)
async def add_to_timeline(rt: Runtime, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                          client: AsyncWebClient) -> None:
    await ack()
    message = _message(str(body["channel"]["id"]), body.get("message"))
    if message is None:
        return
    await open_form(ack, respond, client, body["trigger_id"], rt.run(flows.shortcut_form, rt.work, message),
                    acked=True)


@view(views.SHORTCUT_VIEW)
async def add_submitted(rt: Runtime, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    chosen = view_state.selected(view["state"]["values"], "incident")
    if not chosen.isdigit():
        await ack(response_action="errors", errors={"incident": "Pick the incident."})
        return
    captured = await answer_submission(ack, rt.run(flows.add_from_form, rt.work, view.get("private_metadata", ""),
                                                   int(chosen), body["user"]["id"]), "incident")
    if captured is not None:
        await rt.run_slow(rt.history.link, captured)


async def _once(rt: Runtime, body: dict[str, Any], fn: Any) -> Any:
    result = await outcome(rt.run(flows.on_event, rt.work, body.get("event_id"), fn))
    return None if isinstance(result, Refused) else result


def _message(channel: str, message: Any) -> SlackMessage | None:
    """A message object of an event or a shortcut payload; None for one without a timestamp."""
    if not isinstance(message, dict) or not isinstance(message.get("ts"), str):
        return None
    author = message.get("user") or message.get("bot_id") or ""
    thread = message.get("thread_ts")
    return SlackMessage(channel=channel, ts=message["ts"], user=str(author), text=str(message.get("text") or ""),
                        thread_ts=thread if isinstance(thread, str) and thread != message["ts"] else None)
