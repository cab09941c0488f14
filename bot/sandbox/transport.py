"""How a simulated Slack request reaches the bot: a signed HTTP POST, or a Socket Mode envelope.

The simulator builds every request once, as the form or JSON body Slack would POST in HTTP mode.
`HttpTransport` signs and POSTs it to `/slack/events`; `SocketTransport` sends the same fields as
the JSON payload of an envelope over the bot's WebSocket. Both answer with a `BotResponse`, so
what the simulator does with an ack (show a command's text, apply a view_submission's
response_action) is the same in either mode.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from bot.sandbox.signing import sign
from bot.sandbox.socket_mode import EnvelopeType, SocketHub

ACK_DEADLINE_S = 3.0
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


@dataclass
class BotResponse:
    status: int
    body: str
    json: dict[str, Any] | None
    headers: dict[str, str]
    elapsed: float

    @property
    def acked_in_time(self) -> bool:
        return self.status == 200 and self.elapsed <= ACK_DEADLINE_S


class Transport(Protocol):
    def post_form(self, form: dict[str, str], timestamp: str | int | None, signature: str | None) -> BotResponse:
        """A slash command (form fields) or an interaction (form field `payload` holding JSON)."""
        ...

    def post_event(self, envelope: dict[str, Any], retry_num: int | None, retry_reason: str,
                   timestamp: str | int | None, signature: str | None) -> BotResponse:
        """An Events API `event_callback`; `retry_num` marks a redelivery."""
        ...


class HttpTransport:
    """`POST /slack/events`, signed with the signing secret; `timestamp` / `signature` override
    the real ones to forge stale or badly signed requests."""

    def __init__(self, bot_url: str, signing_secret: str, timeout: float) -> None:
        self.events_url = bot_url.rstrip("/") + "/slack/events"
        self.signing_secret = signing_secret
        self.timeout = timeout

    def post_form(self, form: dict[str, str], timestamp: str | int | None, signature: str | None) -> BotResponse:
        body = urllib.parse.urlencode(form).encode()
        return self._send(body, "application/x-www-form-urlencoded", timestamp, signature, {})

    def post_event(self, envelope: dict[str, Any], retry_num: int | None, retry_reason: str,
                   timestamp: str | int | None, signature: str | None) -> BotResponse:
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self._send(json.dumps(envelope).encode(), "application/json", timestamp, signature, headers)

    def _send(self, body: bytes, content_type: str, timestamp: str | int | None, signature: str | None,
              extra_headers: dict[str, str]) -> BotResponse:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None else sign(self.signing_secret, ts, body),
            **extra_headers,
        }
        request = urllib.request.Request(self.events_url, data=body, headers=headers, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                status, raw, reply_headers = reply.status, reply.read(), dict(reply.headers)
        except urllib.error.HTTPError as error:
            status, raw, reply_headers = error.code, error.read(), dict(error.headers)
        text = raw.decode("utf-8", errors="replace")
        return BotResponse(status, text, _json_object(text), reply_headers, time.monotonic() - started)


class SocketTransport:
    """Envelopes over the bot's Socket Mode connection. An ack within the deadline reads as a 200
    whose body is the ack's payload; no ack reads as a 504 that was not acked in time, which is
    when Slack shows the user `operation_timeout`. Envelopes are not signed, so there is nothing
    for `timestamp` / `signature` to forge."""

    def __init__(self, hub: SocketHub) -> None:
        self.hub = hub

    def post_form(self, form: dict[str, str], timestamp: str | int | None, signature: str | None) -> BotResponse:
        _unsigned(timestamp, signature)
        if "payload" in form:
            return self._deliver("interactive", json.loads(form["payload"]))
        return self._deliver("slash_commands", dict(form))

    def post_event(self, envelope: dict[str, Any], retry_num: int | None, retry_reason: str,
                   timestamp: str | int | None, signature: str | None) -> BotResponse:
        _unsigned(timestamp, signature)
        if retry_num is None:
            return self._deliver("events_api", envelope)
        return self._deliver("events_api", envelope, retry_attempt=retry_num, retry_reason=retry_reason)

    def _deliver(self, kind: EnvelopeType, payload: dict[str, Any], *, retry_attempt: int = 0,
                 retry_reason: str = "") -> BotResponse:
        started = time.monotonic()
        ack = self.hub.deliver(kind, payload, retry_attempt=retry_attempt, retry_reason=retry_reason,
                               timeout=ACK_DEADLINE_S)
        elapsed = time.monotonic() - started
        if ack is None:
            return BotResponse(504, f"no ack within {ACK_DEADLINE_S:g} s: Slack shows the user operation_timeout",
                               None, {}, elapsed)
        return BotResponse(200, json.dumps(ack) if ack else "", ack or None, {}, elapsed)


def _unsigned(timestamp: str | int | None, signature: str | None) -> None:
    if timestamp is not None or signature is not None:
        raise ValueError("Socket Mode envelopes are not signed: timestamp and signature apply to HTTP only")


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
