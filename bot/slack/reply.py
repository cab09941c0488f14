"""An answer that carries buttons: what a flow returns when plain text is not enough."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    text: str
    """The notification and fallback text."""
    blocks: list[dict]
    """What the person sees (Block Kit)."""

    def __str__(self) -> str:
        return self.text
