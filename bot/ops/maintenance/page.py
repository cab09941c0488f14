"""The maintenance page, the allowlist include and the flag file: small files written atomically."""

from __future__ import annotations

import html
import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.executor.plan import StepFailed
from bot.ops.maintenance.nginx import write_atomically
from playbooks.durations import parse_duration

ETA_PATTERN = r"(?:[01]?[0-9]|2[0-3]):[0-5][0-9]|[0-9]+[mhd](?:[0-9]+[mhd])*"
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
NO_ETA = "to be announced"


def eta_text(eta: str, now: datetime, zone: ZoneInfo) -> str:
    """``23:00`` (the next such time in the pack's zone) or ``2h`` (from now), as people read it:
    ``23:00 UTC``, or ``Sun 29 Nov 01:00 CET`` when it is not today."""
    if not eta:
        return NO_ETA
    local_now = now.astimezone(zone)
    clock = _CLOCK.fullmatch(eta)
    if clock:
        when = local_now.replace(hour=int(clock[1]), minute=int(clock[2]), second=0, microsecond=0)
        if when <= local_now:
            when += timedelta(days=1)
    else:
        when = local_now + parse_duration(eta)
    shown = when.strftime("%H:%M %Z")
    return shown if when.date() == local_now.date() else when.strftime("%a %d %b ") + shown


def mrkdwn_escape(text: str) -> str:
    """Typed text shown in Slack: no pings, no fake links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_page(template: Path, *, eta: str, reason: str) -> str:
    try:
        text = template.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StepFailed(f"cannot read the page template {template}: {getattr(exc, 'strerror', None) or exc}") \
            from None
    return string.Template(text).safe_substitute(eta=html.escape(eta), reason=html.escape(reason))


def write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text.encode("utf-8"))
    except OSError as exc:
        raise StepFailed(f"cannot write {path}: {exc.strerror}") from None


def allowlist_include(addresses: tuple[str, ...]) -> str:
    """For ``geo $variable { default 0; include <file>; }``: 1 for each allowed address."""
    lines = ["# Written by opsbot (maintenance.yaml allowlist): addresses that reach the application."]
    return "\n".join([*lines, *(f"{address} 1;" for address in addresses)]) + "\n"


@dataclass(frozen=True)
class Flag:
    since: datetime
    reason: str
    eta: str

    def text(self) -> str:
        return f"since={self.since.isoformat()}\nreason={self.reason}\neta={self.eta}\n"

    @staticmethod
    def read(path: Path) -> Flag | None:
        try:
            fields = dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)
            return Flag(datetime.fromisoformat(fields["since"]).astimezone(UTC), fields.get("reason", ""),
                        fields.get("eta", ""))
        except (OSError, UnicodeDecodeError, KeyError, ValueError):
            return None
