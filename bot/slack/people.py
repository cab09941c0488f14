"""How the author of something is shown in a message."""

from __future__ import annotations

import re

USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def who(user: str | None) -> str:
    """A Slack user (an ID) as a mention; anything else, the bot (``BOT``), a schedule
    (``schedule:<name>``) or a monitoring system (``alertmanager``), by its name."""
    if not user:
        return "someone"
    if USER_ID.fullmatch(user):
        return f"<@{user}>"
    return f"`{user}`" if user.startswith("schedule:") else user
