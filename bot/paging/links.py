"""Acknowledge links: signed, expiring tokens naming one page, served by the bot at ``/page/ack``.

A token is ``<page id>.<expiry, Unix seconds>.<HMAC-SHA256 of both, its first 128 bits in base64url>``
(short enough for a link in one SMS): the bot needs no row to check one, a changed digit breaks the
signature, and nothing in it is secret. A GET of the
link only shows a confirmation page (mail and chat link scanners follow GETs); the page's button
POSTs the token back, and only that acknowledges (docs/paging.md).
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from bot.signing import derived_key, mac

PATH = "/page/ack"
_TOKEN = re.compile(r"([0-9]{1,12})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})")


@dataclass(frozen=True)
class LinkOk:
    page_id: int


@dataclass(frozen=True)
class LinkBad:
    status: int  # 400 malformed, 403 forged, 410 expired
    reason: str


class LinkSigner:
    def __init__(self, key: bytes, base_url: str) -> None:
        self._key = key
        self.base_url = base_url.rstrip("/")

    def token(self, page_id: int, expires: datetime) -> str:
        payload = f"{page_id}.{int(expires.timestamp())}"
        return f"{payload}.{self._signature(payload)}"

    def url(self, page_id: int, expires: datetime) -> str:
        return f"{self.base_url}{PATH}?t={self.token(page_id, expires)}"

    def check(self, token: str | None, now: datetime) -> LinkOk | LinkBad:
        found = _TOKEN.fullmatch(token or "")
        if not found:
            return LinkBad(400, "This is not an acknowledge link; open the link from the page itself.")
        page_id, expires, signature = found.groups()
        if not hmac.compare_digest(signature, self._signature(f"{page_id}.{expires}")):
            return LinkBad(403, "This link is not one the bot made; open the link from the page itself.")
        if int(expires) < now.timestamp():
            return LinkBad(410, "This link has expired; acknowledge in Slack with `/incident ack`.")
        return LinkOk(int(page_id))

    def _signature(self, payload: str) -> str:
        return base64.urlsafe_b64encode(mac(self._key, payload)).rstrip(b"=").decode()


def signing_key(secret: str | None, fallback: str) -> bytes:
    """The configured secret, or one derived from another secret (the Slack signing secret) for
    this purpose only, so a leaked link key never reveals the signing secret."""
    if secret:
        return secret.encode()
    return derived_key(fallback, "opsbot acknowledge links")
