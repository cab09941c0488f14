"""``windows.yaml``: scheduled maintenance windows (procedures 5.4) — the standing windows (daily,
weekly, monthly with their activities), where notices go, the pre-maintenance checklist by stage,
how often open items are reminded, and the notice templates (24-hour notice, 2-hour reminder,
maintenance complete; cancelled and moved for changes of plan)."""

from __future__ import annotations

from datetime import time, timedelta
from string import Template
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from playbooks.common import ChannelName, PackModel, Target, TimeOfDay, TimeZoneName
from playbooks.durations import Duration

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
STAGES: dict[str, timedelta] = {
    "T-24h": timedelta(hours=24), "T-2h": timedelta(hours=2), "T-30m": timedelta(minutes=30), "T-0": timedelta(0),
}
"""The checklist's stages and how long before the start each is due."""
WINDOW_PLACEHOLDERS = frozenset({
    "id", "title", "date", "start", "end", "timezone", "duration_minutes", "activities", "impact", "services",
    "new_date", "new_start", "new_end",
})

class StandingWindow(PackModel):
    """A recurring window: ``daily`` at ``at``; ``weekly`` on ``day``; ``monthly`` on the first ``day``
    of the month. Times are in the pack's ``timezone``."""

    key: str = Field(pattern=r"^[a-z0-9_-]+$")
    title: str
    every: Literal["daily", "weekly", "monthly"]
    day: Weekday | None = None
    at: TimeOfDay
    duration: Duration
    activities: tuple[str, ...] = ()
    expected_impact: str = ""
    services: tuple[str, ...] = ()
    """Alerts for these services are held during the window (the alerts' ``service_label``)."""
    notify: bool = True
    """Whether notices and the checklist go out (an automated window with no impact needs none)."""

    @model_validator(mode="after")
    def _consistent(self) -> StandingWindow:
        if self.every == "daily" and self.day is not None:
            raise ValueError("a daily window has no day")
        if self.every != "daily" and self.day is None:
            raise ValueError(f"a {self.every} window needs day (a weekday, like sunday)")
        if not timedelta(minutes=1) <= self.duration <= timedelta(days=1):
            raise ValueError("duration must be between 1m and 1d")
        return self

    @property
    def start_time(self) -> time:
        hours, minutes = self.at.split(":")
        return time(int(hours), int(minutes))


class ChecklistItem(PackModel):
    key: str = Field(pattern=r"^[a-z0-9_]+$")
    text: str
    done_when: Literal["notice_24h", "notice_2h"] | None = None
    """The bot ticks the item itself when it sends that notice."""


class WindowTemplates(PackModel):
    """Message texts with ``$placeholders`` (``string.Template``); see ``WINDOW_PLACEHOLDERS``."""

    notice_24h: str
    notice_2h: str
    complete: str
    cancelled: str
    moved: str

    @field_validator("*")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        bad = []
        for match in Template.pattern.finditer(value):
            used = match["named"] or match["braced"]
            if match["invalid"] is not None:
                bad.append("'$' is not followed by a name (write $$ for a dollar sign)")
            elif used and used not in WINDOW_PLACEHOLDERS:
                bad.append(f"unknown placeholder ${used}")
        if bad:
            known = ", ".join(f"${n}" for n in sorted(WINDOW_PLACEHOLDERS))
            raise ValueError(f"{'; '.join(bad)}; notices can use {known}")
        return value


_DEFAULT_TEMPLATES = WindowTemplates(
    notice_24h="Scheduled maintenance on $date from $start to $end $timezone: $title",
    notice_2h="Reminder: maintenance starting at $start $timezone: $title",
    complete="Maintenance complete: $title",
    cancelled="Cancelled: the maintenance on $date at $start $timezone ($title) will not take place.",
    moved="Rescheduled: $title moves to $new_date from $new_start to $new_end $timezone.",
)


class WindowSettings(PackModel):
    timezone: TimeZoneName = "UTC"
    """How window times are typed in the form and shown in notices (an IANA name)."""
    channel: ChannelName = "#platform-ops"
    """The team's channel: each window's checklist lives in a thread here."""
    notice_channels: tuple[ChannelName, ...] = ("#general",)
    """Where the 24-hour notice, the 2-hour reminder and the completion notice go."""
    remind_every: Duration = timedelta(minutes=30)
    """How often still-open checklist items that are due are reminded in the thread."""
    horizon: Duration = timedelta(days=8)
    """How far ahead standing windows are created (at least a day, so their 24-hour notice goes out)."""
    planners: tuple[Target, ...] = ()
    """Who may schedule, move and cancel windows: user IDs or user groups (membership read live);
    empty: anyone. Ticking the checklist is open to all; enabling maintenance mode has its own approvals."""
    enable_action: str = "maintenance.enable"
    """The executor action offered at T-30m; no button when the pack does not declare it."""
    checklist: dict[Literal["T-24h", "T-2h", "T-30m", "T-0"], tuple[ChecklistItem, ...]] = {}
    standing: tuple[StandingWindow, ...] = ()
    templates: WindowTemplates = _DEFAULT_TEMPLATES

    @model_validator(mode="after")
    def _consistent(self) -> WindowSettings:
        keys = [item.key for items in self.checklist.values() for item in items]
        if len(set(keys)) != len(keys):
            raise ValueError("two checklist items share a key")
        standing = [w.key for w in self.standing]
        if len(set(standing)) != len(standing):
            raise ValueError("two standing windows share a key")
        if self.remind_every < timedelta(minutes=1):
            raise ValueError("remind_every must be at least 1m")
        if self.horizon < timedelta(days=1, hours=1):
            raise ValueError("horizon must be more than 1d, so standing windows get their 24-hour notice")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def items(self) -> list[tuple[str, ChecklistItem]]:
        """(stage, item) in stage order."""
        return [(stage, item) for stage in STAGES for item in self.checklist.get(stage, ())]  # type: ignore[call-overload]

    def item(self, key: str) -> tuple[str, ChecklistItem] | None:
        return next(((stage, item) for stage, item in self.items() if item.key == key), None)

    def standing_window(self, key: str) -> StandingWindow | None:
        return next((w for w in self.standing if w.key == key), None)
