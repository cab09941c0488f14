"""Field types and the base model shared by every file of the pack, so section modules
(``actions``, ``backups``, ``alerts``…) can use them without importing ``playbooks.models``."""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_HANDLE = re.compile(r"@[a-z0-9][a-z0-9._-]*")
_ROLE_REF = re.compile(r"role:[a-z_]+")
_SCHEDULE_REF = re.compile(r"schedule:[a-z0-9][a-z0-9_-]{0,40}")
_CHANNEL = re.compile(r"#[a-z0-9][a-z0-9_-]{0,79}")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


def _target(value: str) -> str:
    """A notification target: a Slack user ID, a user group ``@handle``, ``role:<key>`` or
    ``schedule:<name>`` (whoever ``oncall.yaml``'s schedule has on call at that moment)."""
    if any(p.fullmatch(value) for p in (_USER_ID, _HANDLE, _ROLE_REF, _SCHEDULE_REF)):
        return value
    raise ValueError(
        f"{value!r} is not a target; use a Slack user ID (U0123ABC), a user group handle (@oncall), "
        "an incident role (role:incident_commander) or an on-call schedule (schedule:primary)"
    )


def _channel(value: str) -> str:
    if _CHANNEL.fullmatch(value):
        return value
    raise ValueError(f"{value!r} is not a channel; write it like #platform-ops (lowercase)")


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {value!r}; use an IANA name like Europe/Berlin") from exc
    return value


def _time_of_day(value: str) -> str:
    if not _CLOCK.fullmatch(value):
        raise ValueError(f"{value!r} is not a time of day; write it like 09:00 or 22:00")
    return value


Target = Annotated[str, AfterValidator(_target)]
TimeOfDay = Annotated[str, AfterValidator(_time_of_day)]
"""``HH:MM`` on a 24-hour clock, in the pack's time zone."""
TimeZoneName = Annotated[str, AfterValidator(_zone)]
ChannelName = Annotated[str, AfterValidator(_channel)]


class PackModel(BaseModel):
    """Frozen, and a key the model does not know is an error (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
