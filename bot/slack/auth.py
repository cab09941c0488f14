"""Who the bot token says the bot is (``auth.test``), asked once at start-up: a revoked, mistyped or
other workspace's token stops the start with one line instead of failing every call later."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.settings import SettingsError

_QUIET = logging.getLogger(__name__ + ".client")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False  # slack_sdk would log the failure too; the one line below says it


@dataclass(frozen=True)
class BotIdentity:
    team: str
    user: str  # the bot user's name
    user_id: str


def check_token(token: str, api_url: str) -> BotIdentity:
    """``auth.test`` with the token; SettingsError (one line) when Slack refuses it or cannot be asked."""
    client = WebClient(token=token, base_url=api_url, timeout=10, logger=_QUIET)
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "refused") if exc.response is not None else "refused"
        raise SettingsError(f"Slack refused SLACK_BOT_TOKEN ({error} from auth.test at {api_url}): "
                            "check the bot token of the installed app") from None
    except (SlackClientError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise SettingsError(f"cannot check SLACK_BOT_TOKEN: Slack at {api_url} did not answer auth.test ({reason})") \
            from None
    return BotIdentity(team=str(answer.get("team", "")), user=str(answer.get("user", "")),
                       user_id=str(answer.get("user_id", "")))
