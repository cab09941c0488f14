"""Keys and signatures for links the bot hands out and checks itself (acknowledge links in pages,
calendar feeds): HMAC-SHA256, keys derived per purpose so that one leaked link key reveals neither
the secret it came from nor another purpose's key."""

from __future__ import annotations

import hashlib
import hmac


def derived_key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def mac(key: bytes, payload: str, size: int = 16) -> bytes:
    """The first ``size`` bytes of the payload's HMAC: 128 bits by default, short enough for an SMS link."""
    return hmac.new(key, payload.encode(), hashlib.sha256).digest()[:size]
