"""Signed requests that Bolt would trip over answer 400, not 500.

Bolt parses the body before it checks the signature and reads nested keys while matching
listeners, so a truncated or oddly shaped payload would surface as a server error. This
checks the signature, then the shape of what our listeners read, before Bolt sees it.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier

_REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "command": (("user_id",), ("channel_id",), ("command",)),
    "block_actions": (("user", "id"), ("actions",)),
    "view_submission": (("user", "id"), ("view", "id"), ("view", "type"), ("view", "callback_id"),
                        ("view", "state", "values")),
    "view_closed": (("user", "id"), ("view", "id"), ("view", "type")),
    "event_callback": (("event", "type"),),
    "message_action": (("user", "id"), ("callback_id",), ("trigger_id",), ("channel", "id"), ("message", "ts")),
}


def signature_ok(verifier: SignatureVerifier | None, body: bytes, headers: dict[str, str]) -> bool:
    if verifier is None:
        return True
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not timestamp.isdigit() or not signature:
        return False
    return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)


def malformed(body: str, content_type: str | None) -> str | None:
    """Why Bolt could not handle this body, or None when it is fine."""
    try:
        parsed = parse_body(body, content_type)
    except ValueError:
        return "the body is not valid JSON or form data"
    if not isinstance(parsed, dict):
        return "the payload is not an object"
    kind = "command" if "command" in parsed else str(parsed.get("type", ""))
    for path in _REQUIRED.get(kind, ()):
        if not _has(parsed, path):
            return f"{kind} payload without {'.'.join(path)}"
    if kind == "block_actions" and not all(isinstance(a, dict) and "action_id" in a for a in parsed["actions"]):
        return "block_actions payload with a malformed action"
    return None


def _has(data: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True
