"""Block Kit and texts for maintenance windows: the schedule form, the notices (the pack's
templates), the window's header and checklist in the team channel's thread, stage posts and
reminders, and `/maintenance windows`. Rendering only."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.slack.people import who
from bot.windows.forms import MAX_TEXT, MAX_TITLE
from playbooks.durations import format_duration
from playbooks.templates import render
from playbooks.windows import StandingWindow, WindowSettings
from storage.windows import MaintenanceCheck, MaintenanceWindow

SCHEDULE_VIEW = "mw_schedule"
TICK = "mw_tick"
ENABLE = "mw_enable"
_DAYS = {"daily": "every day", "weekly": "every {day}", "monthly": "the first {day} of each month"}


def escape(text: str) -> str:
    """Typed text shown as typed: no ``<!channel>`` pings or fake links from the form."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def listed(window: MaintenanceWindow, field: str) -> list[str]:
    value = json.loads(getattr(window, field) or "[]")
    return [str(v) for v in value] if isinstance(value, list) else []


def when(settings: WindowSettings, at: datetime, fmt: str = "%a %Y-%m-%d %H:%M") -> str:
    return at.astimezone(settings.zone).strftime(fmt)


def placeholders(settings: WindowSettings, window: MaintenanceWindow,
                 new_start: datetime | None = None, new_end: datetime | None = None) -> dict[str, str]:
    activities = listed(window, "activities")
    values = {
        "id": window.ref, "title": escape(window.title),
        "date": when(settings, window.starts_at, "%A %d %B %Y"), "start": when(settings, window.starts_at, "%H:%M"),
        "end": when(settings, window.ends_at, "%H:%M"), "timezone": settings.timezone,
        "duration_minutes": str(int((window.ends_at - window.starts_at).total_seconds() // 60)),
        "activities": "\n".join(f"- {escape(a)}" for a in activities) or "- Routine maintenance",
        "impact": escape(window.expected_impact) or "None expected",
        "services": ", ".join(listed(window, "services")) or "none",
    }
    if new_start and new_end:
        values |= {"new_date": when(settings, new_start, "%A %d %B %Y"),
                   "new_start": when(settings, new_start, "%H:%M"), "new_end": when(settings, new_end, "%H:%M")}
    return values


def notice(settings: WindowSettings, template: str, window: MaintenanceWindow, **moved: datetime) -> str:
    return render(template, placeholders(settings, window, **moved))


# -- the form ----------------------------------------------------------------------------------------
def schedule_modal(settings: WindowSettings) -> dict:
    def text(block: str, label: str, *, hint: str = "", multiline: bool = False, optional: bool = False,
             max_length: int = MAX_TEXT, placeholder: str | None = None) -> InputBlock:
        return InputBlock(block_id=block, label=label, optional=optional, hint=hint or None,
                          element=PlainTextInputElement(action_id="value", multiline=multiline,
                                                        max_length=max_length, placeholder=placeholder))

    blocks: list[Block] = [
        text("start", f"Start ({settings.timezone})", hint="YYYY-MM-DD HH:MM", placeholder="2026-12-06 22:00",
             max_length=40),
        text("duration", "Duration", hint="like 30m, 1h or 2h30m", placeholder="1h", max_length=20),
        text("title", "Title", max_length=MAX_TITLE),
        text("activities", "Activities", hint="one per line", multiline=True, optional=True),
        text("impact", "Expected impact", multiline=True, optional=True),
        text("services", "Services affected", optional=True, max_length=500,
             hint="comma-separated; their alerts are held during the window", placeholder="backend, postgres"),
    ]
    return View(type="modal", callback_id=SCHEDULE_VIEW, title="Schedule maintenance", submit="Schedule",
                close="Cancel", blocks=blocks).to_dict()


# -- the thread --------------------------------------------------------------------------------------
def header(settings: WindowSettings, window: MaintenanceWindow) -> tuple[str, list[dict]]:
    services = ", ".join(listed(window, "services")) or "none"
    activities = "\n".join(f"• {escape(a)}" for a in listed(window, "activities")) or "• (none listed)"
    text = (f"🛠️ *{window.ref} {escape(window.title)}* — {when(settings, window.starts_at)} to "
            f"{when(settings, window.ends_at, '%H:%M')} {settings.timezone}")
    body = (f"{text}\n*Activities:*\n{activities}\n*Expected impact:* {escape(window.expected_impact) or 'none stated'}"
            f"\n*Services (alerts held during the window):* {services}")
    hint = MarkdownTextObject(text="The pre-maintenance checklist is in this thread.")
    blocks = [SectionBlock(text=MarkdownTextObject(text=body[:2990])).to_dict(),
              ContextBlock(elements=[hint]).to_dict()]
    return text, blocks


def checklist(settings: WindowSettings, window: MaintenanceWindow,
              ticks: Mapping[str, MaintenanceCheck]) -> tuple[str, list[dict]]:
    blocks: list[dict] = []
    done = 0
    for stage in ("T-24h", "T-2h", "T-30m", "T-0"):
        items = settings.checklist.get(stage, ())  # type: ignore[call-overload]
        if not items:
            continue
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*{stage}*")).to_dict())
        for item in items:
            tick = ticks.get(item.key)
            if tick:
                done += 1
                line = f"☑ {item.text} — {who(tick.done_by)}, {when(settings, tick.done_at, '%Y-%m-%d %H:%M')}"
                blocks.append(SectionBlock(text=MarkdownTextObject(text=line)).to_dict())
            else:
                blocks.append(SectionBlock(
                    text=MarkdownTextObject(text=f"☐ {item.text}"),
                    accessory=ButtonElement(text="Done", action_id=TICK, value=f"{window.id}:{item.key}"),
                ).to_dict())
    total = len(settings.items())
    text = f"Pre-maintenance checklist for {window.ref}: {done}/{total} done"
    return text, [SectionBlock(text=MarkdownTextObject(text=f"*{text}*")).to_dict(), *blocks][:50]


def open_items(items: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"☐ {stage}: {text}" for stage, text in items)


def stage_post(window: MaintenanceWindow, stage: str, still_open: list[tuple[str, str]],
               enable_action: str | None) -> tuple[str, list[dict]]:
    if stage == "T-0":
        text = f"🚧 {window.ref} starts now: maintenance in progress."
    else:
        text = f"⏰ {window.ref} is at {stage}."
    if still_open:
        text += f"\nStill open:\n{open_items(still_open)}"
    blocks = [SectionBlock(text=MarkdownTextObject(text=text[:2990])).to_dict()]
    if enable_action:
        offer = (f"Enable maintenance mode now? The button requests `{enable_action}` through the executor, "
                 "with its approvals.")
        text += f"\n{offer}"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=offer)]).to_dict())
        blocks.append(ActionsBlock(elements=[ButtonElement(
            text="Enable maintenance mode", action_id=ENABLE, value=str(window.id), style="primary")]).to_dict())
    return text, blocks


def reminder(window: MaintenanceWindow, still_open: list[tuple[str, str]]) -> str:
    return f"🔔 Reminder for {window.ref}: still open\n{open_items(still_open)}"


# -- /maintenance windows ----------------------------------------------------------------------------
def window_line(settings: WindowSettings, window: MaintenanceWindow, now: datetime) -> str:
    source = f" (standing: {window.standing_key})" if window.standing_key else ""
    source += " — *in progress*" if window.starts_at <= now else ""
    services = ", ".join(listed(window, "services"))
    return (f"• *{window.ref}* {escape(window.title)}{source} — {when(settings, window.starts_at)}–"
            f"{when(settings, window.ends_at, '%H:%M')} {settings.timezone}"
            + (f" · services: {services}" if services else ""))


def standing_line(settings: WindowSettings, window: StandingWindow, next_start: datetime | None) -> str:
    days = _DAYS[window.every].format(day=(window.day or "").capitalize())
    nxt = f", next {when(settings, next_start)}" if next_start else ""
    return f"• {window.title}: {days} at {window.at} for {format_duration(window.duration)}{nxt}"


def window_list(settings: WindowSettings, windows: list[MaintenanceWindow],
                standing: list[tuple[StandingWindow, datetime | None]], now: datetime) -> str:
    lines = ["*Upcoming maintenance windows*"]
    lines += [window_line(settings, w, now) for w in windows] or ["• none scheduled"]
    if standing:
        lines.append("*Standing windows* (created as they come within "
                     f"{format_duration(settings.horizon)})")
        lines += [standing_line(settings, w, nxt) for w, nxt in standing]
    lines.append("`/maintenance cancel <id>` or `/maintenance move <id> YYYY-MM-DD HH:MM` to change one.")
    return "\n".join(lines)
