"""The report's chart as a PNG: incidents per week by severity (stacked bars) and the time to
resolve them (each incident a dot, the week's median a line). Rendered with matplotlib's Agg
canvas on a ``Figure`` of its own (no pyplot: no global state, no display, safe in any thread)."""

from __future__ import annotations

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.reports.figures import ORDER, Report, quantile

COLOURS = {"P0": "#b30000", "P1": "#e34a33", "P2": "#fc8d59", "P3": "#fdcc8a"}


def _hours(value: timedelta) -> float:
    return value / timedelta(hours=1)


def render(report: Report, zone: ZoneInfo) -> bytes:
    figure = Figure(figsize=(8, 5.5), dpi=100)
    FigureCanvasAgg(figure)
    counts, times = figure.subplots(2, 1, sharex=True)
    labels = [f"{w.start.astimezone(zone):%d %b}" for w in report.weeks]
    positions = list(range(len(report.weeks)))
    bottom = [0] * len(report.weeks)
    for severity in ORDER:
        heights = [w.counts.get(severity, 0) for w in report.weeks]
        if any(heights):
            counts.bar(positions, heights, bottom=bottom, color=COLOURS[severity], label=severity)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    counts.set_title(f"Incidents per week by severity ({report.days} days to "
                     f"{report.until.astimezone(zone):%d %b %Y})")
    counts.set_ylabel("incidents")
    counts.yaxis.get_major_locator().set_params(integer=True)
    if any(bottom):
        counts.legend(loc="upper left", fontsize="small")
    for x, week in zip(positions, report.weeks, strict=True):
        if week.ttr:
            times.scatter([x] * len(week.ttr), [_hours(t) for t in week.ttr], color="#555555", s=14, zorder=3)
    medians = [(x, quantile(w.ttr, 0.5)) for x, w in zip(positions, report.weeks, strict=True) if w.ttr]
    if medians:
        times.plot([x for x, _ in medians], [_hours(m) for _, m in medians if m is not None], color="#2b8cbe",
                   marker="o", label="median")
        times.legend(loc="upper left", fontsize="small")
    times.set_title("Time to resolve")
    times.set_ylabel("hours")
    times.set_ylim(bottom=0)
    times.set_xticks(positions, labels, fontsize="small")
    times.set_xlabel("week starting")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
