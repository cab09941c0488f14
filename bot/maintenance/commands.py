"""Parse ``/maintenance enable [reason…] [eta]``: pure, any text gives parameters or a clear error."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.ops.maintenance.page import ETA_PATTERN

_ETA = re.compile(ETA_PATTERN)
REASON_LIMIT = 200


@dataclass(frozen=True)
class EnableRequest:
    params: dict[str, str]


@dataclass(frozen=True)
class ParseError:
    message: str


def parse_enable(text: str) -> EnableRequest | ParseError:
    """The last word is the ETA when it reads as one (``23:00``, ``45m``, ``2h``; also ``eta=…``);
    the rest is the reason shown on the page."""
    words = (text or "").split()
    params: dict[str, str] = {}
    if words:
        last = words[-1].removeprefix("eta=")
        if _ETA.fullmatch(last):
            params["eta"] = last
            words = words[:-1]
        elif words[-1].startswith("eta="):
            return ParseError(f"`{words[-1][:40]}` is not an ETA; write it like `23:00`, `45m` or `2h`.")
    reason = " ".join(words)
    if len(reason) > REASON_LIMIT:
        return ParseError(f"The reason is {len(reason)} characters; keep it to {REASON_LIMIT} "
                          "(it is shown on the page).")
    if reason:
        params["reason"] = reason
    return EnableRequest(params)
