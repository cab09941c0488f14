"""``opsbot import-schedule``: a schedule exported from PagerDuty's or Opsgenie's REST API as an
``oncall.yaml`` schedule, with a list of what could not be carried over.

The shapes read are the documented responses of PagerDuty's ``GET /schedules/{id}`` (``{"schedule":
{"time_zone", "schedule_layers": [{"rotation_virtual_start", "rotation_turn_length_seconds",
"users": [{"user": {"id", "summary"}}], "restrictions": [...]}]}}``) and Opsgenie's
``GET /v2/schedules/{identifier}`` (``{"data": {"timezone", "rotations": [{"startDate", "type",
"length", "participants", "timeRestriction"}]}}``). Their people are their own accounts, so a map
from their IDs, usernames, e-mails or names to Slack user IDs says who is who; someone not in it is
reported, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from playbooks.oncall import SCHEDULE_NAME, WEEKDAYS, OncallSchedule

DAY = 86400


@dataclass
class Imported:
    name: str
    schedule: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)
    """What could not be carried over, one line each, for the person importing."""


class ImportProblem(Exception):
    """The file is not an export this importer reads (said in one line)."""


def slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9_-]+", "-", name.strip().lower()).strip("-")[:40] or "imported"
    return text if re.fullmatch(SCHEDULE_NAME, text) else f"s-{text}"[:40]


def import_schedule(export: Mapping[str, Any], people: Mapping[str, str], *, name: str | None = None) -> Imported:
    if isinstance(export.get("schedule"), dict):
        imported = _pagerduty(export["schedule"], people)
    elif isinstance(export.get("data"), dict) and "rotations" in export["data"]:
        imported = _opsgenie(export["data"], people)
    else:
        raise ImportProblem('not a PagerDuty schedule ({"schedule": …}) '
                            'or an Opsgenie one ({"data": {"rotations": …}})')
    if name:
        imported.name = slug(name)
    if not imported.schedule["layers"]:
        raise ImportProblem("no layer could be carried over:\n  " + "\n  ".join(imported.unmapped))
    try:
        OncallSchedule.model_validate(imported.schedule)
    except ValidationError as exc:  # an export this importer misread: say so rather than write a bad file
        raise ImportProblem(f"the converted schedule does not validate: {exc.errors()[0]['msg']}") from None
    return imported


def _zone(name: object, unmapped: list[str]) -> str:
    try:
        ZoneInfo(str(name))
        return str(name)
    except (ZoneInfoNotFoundError, ValueError):
        unmapped.append(f"time zone {name!r} is unknown; used UTC")
        return "UTC"


def _moment(text: object, zone: str) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    except ValueError:
        raise ImportProblem(f"{text!r} is not a date and time") from None


def _anchor(layer: dict[str, Any], start: datetime) -> None:
    layer.update(start=start.date().isoformat(), handoff=f"{start:%H:%M}")
    if layer["shift"] == "weekly":
        layer["handoff_day"] = WEEKDAYS[start.weekday()]


def _length(seconds: int) -> str:
    if seconds == DAY:
        return "daily"
    if seconds == 7 * DAY:
        return "weekly"
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _windows(start_day: int | None, start: int, length: int) -> list[dict[str, Any]]:
    """A stretch of ``length`` seconds from ``start`` seconds into day ``start_day`` (0 is Monday;
    None: every day) as per-day windows (``00:00``–``00:00`` is a whole day), the same times joined."""
    if length >= 7 * DAY or (start_day is None and length >= DAY):
        return [{"days": list(WEEKDAYS), "start": "00:00", "end": "00:00"}]
    days = list(range(7)) if start_day is None else [start_day]
    by_times: dict[tuple[str, str], list[int]] = {}
    for first in days:
        at, left, day = start, length, first
        while left > 0:
            piece = min(left, DAY - at)
            times = (_clock(at), _clock((at + piece) % DAY))
            by_times.setdefault(times, []).append(day % 7)
            left -= piece
            at, day = 0, day + 1
    return [{"days": [WEEKDAYS[d] for d in sorted(set(ds))], "start": a, "end": b} for (a, b), ds in by_times.items()]


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _seconds(clock: str) -> int:
    h, m, *s = (int(p) for p in clock.rstrip("Z").split(":"))
    return h * 3600 + m * 60 + (s[0] if s else 0)


def _person(keys: list[object], people: Mapping[str, str]) -> str | None:
    return next((people[str(k)] for k in keys if k is not None and str(k) in people), None)


def _pagerduty(schedule: dict[str, Any], people: Mapping[str, str]) -> Imported:
    unmapped: list[str] = []
    zone = _zone(schedule.get("time_zone", "UTC"), unmapped)
    out = Imported(slug(str(schedule.get("name") or schedule.get("id") or "imported")),
                   {"description": str(schedule.get("description") or schedule.get("name") or ""),
                    "timezone": zone, "layers": []}, unmapped)
    for index, raw in enumerate(schedule.get("schedule_layers") or []):
        label = str(raw.get("name") or f"layer {index + 1}")
        users = []
        for entry in raw.get("users") or []:
            user = entry.get("user") or {}
            slack = _person([user.get("id"), user.get("email"), user.get("summary")], people)
            if slack:
                users.append(slack)
            else:
                unmapped.append(f"{label}: user {user.get('summary') or user.get('id')!r} has no Slack user in the map")
        if not users:
            unmapped.append(f"{label}: nobody left to rotate; layer dropped")
            continue
        layer: dict[str, Any] = {"name": slug(label), "people": users,
                                 "shift": _length(int(raw.get("rotation_turn_length_seconds") or DAY))}
        _anchor(layer, _moment(raw.get("rotation_virtual_start") or raw.get("start"), zone))
        if raw.get("start") and raw.get("rotation_virtual_start") and \
                _moment(raw["start"], zone) > _moment(raw["rotation_virtual_start"], zone):
            unmapped.append(f"{label}: covers only from {raw['start']}; opsbot's layer covers from its rotation start")
        if raw.get("end"):
            unmapped.append(f"{label}: ends at {raw['end']}; opsbot layers do not end (remove it then)")
        windows = []
        for r in raw.get("restrictions") or []:
            start, length = _seconds(str(r.get("start_time_of_day", "00:00:00"))), int(r.get("duration_seconds") or 0)
            if r.get("type") == "weekly_restriction":
                windows += _windows(int(r.get("start_day_of_week") or 1) - 1, start, length)
            elif r.get("type") == "daily_restriction":
                windows += _windows(None, start, length)
            else:
                unmapped.append(f"{label}: restriction type {r.get('type')!r} is unknown; left out")
        if windows:
            layer["restrictions"] = windows
        out.schedule["layers"].append(layer)
    if len(out.schedule["layers"]) > 1:
        unmapped.append("layer order kept as exported: in opsbot the first layer that covers an instant wins; "
                        "check it matches PagerDuty's precedence (its higher layers win)")
    return out


_UNITS = {"hourly": 3600, "daily": DAY, "weekly": 7 * DAY}


def _opsgenie(data: dict[str, Any], people: Mapping[str, str]) -> Imported:
    unmapped: list[str] = []
    zone = _zone(data.get("timezone", "UTC"), unmapped)
    out = Imported(slug(str(data.get("name") or data.get("id") or "imported")),
                   {"description": str(data.get("description") or data.get("name") or ""),
                    "timezone": zone, "layers": []}, unmapped)
    if data.get("enabled") is False:
        unmapped.append("the schedule is disabled in Opsgenie; imported as a live schedule")
    for index, raw in enumerate(data.get("rotations") or []):
        label = str(raw.get("name") or f"rotation {index + 1}")
        users = []
        for p in raw.get("participants") or []:
            is_user = p.get("type") == "user"
            slack = _person([p.get("id"), p.get("username"), p.get("name")], people) if is_user else None
            if slack:
                users.append(slack)
            elif is_user:
                unmapped.append(f"{label}: user {p.get('username') or p.get('id')!r} has no Slack user in the map")
            else:
                shown = p.get("name") or p.get("type")
                unmapped.append(f"{label}: participant {shown!r} ({p.get('type')}) is not a person; left out")
        if not users:
            unmapped.append(f"{label}: nobody left to rotate; rotation dropped")
            continue
        unit = _UNITS.get(str(raw.get("type")))
        if unit is None:
            unmapped.append(f"{label}: rotation type {raw.get('type')!r} is unknown; rotation dropped")
            continue
        layer: dict[str, Any] = {"name": slug(label), "people": users,
                                 "shift": _length(unit * int(raw.get("length") or 1))}
        _anchor(layer, _moment(raw.get("startDate"), zone))
        if raw.get("endDate"):
            unmapped.append(f"{label}: ends at {raw['endDate']}; opsbot layers do not end (remove it then)")
        windows = _og_restriction(raw.get("timeRestriction"), label, unmapped)
        if windows:
            layer["restrictions"] = windows
        out.schedule["layers"].append(layer)
    if len(out.schedule["layers"]) > 1:
        unmapped.append("rotation order kept as exported: in opsbot the first layer that covers an instant wins; "
                        "check it matches the precedence you had in Opsgenie")
    return out


def _og_restriction(restriction: Any, label: str, unmapped: list[str]) -> list[dict[str, Any]]:
    if not isinstance(restriction, dict):
        return []

    def at(r: dict[str, Any], side: str) -> int:
        return int(r.get(f"{side}Hour") or 0) * 3600 + int(r.get(f"{side}Min") or 0) * 60

    if restriction.get("type") == "time-of-day":
        r = restriction.get("restriction") or {}
        start, end = at(r, "start"), at(r, "end")
        return _windows(None, start, (end - start) % DAY or DAY)
    if restriction.get("type") == "weekday-and-time-of-day":
        windows = []
        for r in restriction.get("restrictions") or []:
            try:
                first, last = WEEKDAYS.index(str(r["startDay"]).lower()), WEEKDAYS.index(str(r["endDay"]).lower())
            except (KeyError, ValueError):
                unmapped.append(f"{label}: restriction {r!r} names no weekday; left out")
                continue
            start = first * DAY + at(r, "start")
            end = last * DAY + at(r, "end")
            windows += _windows(first, at(r, "start"), (end - start) % (7 * DAY) or 7 * DAY)
        return windows
    unmapped.append(f"{label}: time restriction {restriction.get('type')!r} is unknown; left out")
    return []
