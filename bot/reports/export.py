"""``GET /reports/incidents.csv`` and ``.json``: one row per incident with its figures
(``bot.reports.figures.IncidentFigures``), times in ISO 8601 UTC and durations in seconds."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.reports.figures import IncidentFigures

COLUMNS = ("incident", "title", "declared_at", "acknowledged_at", "resolved_at", "severity", "highest_severity",
           "tta_seconds", "ttr_seconds", "acknowledged_in_time", "updates_on_time", "updates_late", "updates_missed",
           "escalation_level", "linked_changes", "followups", "followups_open", "followups_overdue")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is a formula to a spreadsheet: such text cells get a leading '."""


def _time(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def row(figures: IncidentFigures) -> dict[str, Any]:
    return {
        "incident": figures.ref, "title": figures.title, "declared_at": _time(figures.declared_at),
        "acknowledged_at": _time(figures.acknowledged_at), "resolved_at": _time(figures.resolved_at),
        "severity": figures.severity, "highest_severity": figures.highest, "tta_seconds": _seconds(figures.tta),
        "ttr_seconds": _seconds(figures.ttr), "acknowledged_in_time": figures.acknowledged_in_time,
        "updates_on_time": figures.updates_on_time, "updates_late": figures.updates_late,
        "updates_missed": figures.updates_missed, "escalation_level": figures.escalation_level,
        "linked_changes": list(figures.changes), "followups": figures.followups,
        "followups_open": figures.followups_open, "followups_overdue": figures.followups_overdue,
    }


def as_json(rows: Sequence[IncidentFigures]) -> list[dict[str, Any]]:
    return [row(r) for r in rows]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(value)
    text = str(value)
    return "'" + text if isinstance(value, str) and text.startswith(_FORMULA) else text


def as_csv(rows: Sequence[IncidentFigures]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for figures in rows:
        values = row(figures)
        writer.writerow([_cell(values[c]) for c in COLUMNS])
    return out.getvalue()
