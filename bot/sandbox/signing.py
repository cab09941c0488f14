"""Slack's request signature (v0): HMAC-SHA256 of "v0:{timestamp}:{raw body}" keyed with the signing secret."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, timestamp: str, body: bytes | str) -> str:
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + raw, hashlib.sha256).hexdigest()
    return f"v0={digest}"
