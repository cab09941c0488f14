"""The report as Block Kit (the answer to ``/incident report`` and the weekly digest): a header and
sections of mrkdwn lines, since Slack's mrkdwn has no headings or tables."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.reports.figures import BackupFigures, Report, SeverityFigures, Spread
from playbooks.durations import format_duration
from playbooks.models import Playbook


def _d(value: timedelta | None) -> str:
    return "–" if value is None else format_duration(value)


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({round(100 * part / whole)}%)" if whole else "none to judge"


def _spread(name: str, spread: Spread) -> str:
    if not spread.count:
        return f"{name}: –"
    return f"{name}: median {_d(spread.median)} · p90 {_d(spread.p90)}"


def _when(at: datetime | None, zone: ZoneInfo) -> str:
    return "–" if at is None else f"{at.astimezone(zone):%a %d %b %H:%M}"


def period(report: Report, zone: ZoneInfo) -> str:
    return (f"{report.since.astimezone(zone):%d %b %Y %H:%M} – {report.until.astimezone(zone):%d %b %Y %H:%M} "
            f"({zone.key})")


def severity_lines(playbook: Playbook, figures: SeverityFigures) -> str:
    severity = playbook.severity(figures.severity)
    return "\n".join([
        f"*{severity.label}* · {figures.incidents} incident{'s' if figures.incidents != 1 else ''}",
        _spread("Time to acknowledge", figures.tta),
        _spread("Time to resolve", figures.ttr),
        f"Acknowledged in time ({format_duration(severity.response_time)} at {severity.key}; the target in force "
        f"when acknowledged): {_share(figures.acknowledged_in_time, figures.acknowledgement_judged)}",
    ])


def backup_lines(backups: BackupFigures, zone: ZoneInfo) -> str:
    lines = [f"*Backups*: {backups.taken} taken, {backups.verified} verified, {backups.failed} failed"
             + (f" · {backups.verify_runs} verification runs ({backups.verify_failed} failed)"
                if backups.verify_runs else "")]
    if backups.worst_gap is not None:
        verdict = "within" if backups.gap_within_rpo else "EXCEEDS"
        lines.append(f"Worst gap between verified backups: {_d(backups.worst_gap)} "
                     f"({_when(backups.worst_gap_from, zone)} → {_when(backups.worst_gap_to, zone)}), "
                     f"{verdict} the RPO of {format_duration(backups.rpo)}")
    if backups.last_restore_test_at is None:
        lines.append("Restore test: none recorded")
    elif not backups.last_restore_test_ok:
        lines.append(f"Last restore test: FAILED {_when(backups.last_restore_test_at, zone)}")
    else:
        verdict = "within" if backups.restore_within_rto else "OVER"
        lines.append(f"Last restore test: succeeded {_when(backups.last_restore_test_at, zone)}, restored in "
                     f"{_d(backups.restore_time)}, {verdict} the RTO of {format_duration(backups.rto)}")
    return "\n".join(lines)


def summary(report: Report) -> str:
    counts = " · ".join(f"{s.severity} {s.incidents}" for s in report.severities)
    return f"{len(report.incidents)} incidents ({counts}) in the last {report.days} days"


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def blocks(playbook: Playbook, report: Report, title: str) -> list[dict]:
    zone = playbook.settings.zone
    out: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": period(report, zone)}]},
        _section(f"*Incidents*: {summary(report)}"),
    ]
    for figures in report.severities:
        if figures.incidents:
            out.append(_section(severity_lines(playbook, figures)))
    out.append({"type": "divider"})
    owed = report.updates_on_time + report.updates_late + report.updates_missed
    out.append(_section(
        f"*Status updates on time* (against each severity's cadence): {_share(report.updates_on_time, owed)}"
        f" · {report.updates_late} late · {report.updates_missed} missed"))
    levels = [f"level {level}: {n}" for level, n in report.escalation_levels.items() if level]
    none = report.escalation_levels.get(0, 0)
    out.append(_section("*Escalation levels reached*: " + (", ".join(levels) if levels else "none")
                        + (f" · not escalated: {none}" if none else "")))
    out.append(_section(f"*Follow-ups*: {report.followups_open} open, {report.followups_overdue} overdue · "
                        f"{report.followups_created} added and {report.followups_done} done in the period"))
    changes = [f"{c.category} {c.total} ({c.rolled_back} rolled back, {c.linked} linked to an incident)"
               for c in report.changes]
    out.append(_section("*Changes*: " + (" · ".join(changes) if changes else "none")))
    out.append(_section(backup_lines(report.backups, zone)))
    return out


def answer_title(report: Report) -> str:
    return f"Incident report: the last {report.days} days"


def digest_title(report: Report, zone: ZoneInfo) -> str:
    return f"Weekly report: week to {report.until.astimezone(zone):%a %d %b %Y}"
