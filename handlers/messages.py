"""The Events API's ``message`` events: Bolt runs one listener per event, so this one hands each
message to every domain that reads messages (alert channels, the incident record)."""

from __future__ import annotations

from typing import Any

from bot.runtime import Runtime
from handlers import alerts, timeline
from handlers.listeners import event


@event("message")
async def message(rt: Runtime, event: dict[str, Any], body: dict[str, Any], context: dict[str, Any]) -> None:
    await timeline.channel_message(rt, event, body)
    await alerts.channel_message(rt, event, context)
