"""The one way a Web API method says no: a Slack error code plus Slack's optional extra fields."""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """Raised by a method handler; the API layer answers HTTP 200 `{"ok": false, "error": code, **extra}`.

    Slack reports almost every failure this way (not with HTTP status codes), so the bot under test
    must read `error` exactly as it would against slack.com.
    """

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, **self.extra}
