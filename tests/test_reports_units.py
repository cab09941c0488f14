"""The report's figures as pure functions of a recorded history (bot/reports/figures.py), the
export's rows and the `/incident report` parser: each with answers worked out by hand."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.commands import ParseError
from bot.incidents.commands import ShowReport, parse
from bot.reports import export, figures
from bot.reports.figures import ChangeFact, Event, FollowUpFact, IncidentHistory, RunFact
from bot.settings import SettingsError, load_settings
from playbooks.loader import PlaybookError, load_playbook

pytestmark = pytest.mark.kind("unit")

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)
H = timedelta(hours=1)
TARGETS = figures.Targets(
    response_time={"P0": 15 * M, "P1": 30 * M, "P2": 2 * H, "P3": 8 * H},
    update_every={"P0": 15 * M, "P1": 30 * M, "P2": H, "P3": None},
    rpo=6 * H, rto=H)
UNTIL = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TODAY = date(2026, 11, 30)


def history(*events: tuple[timedelta, str, str | int | None], followups: tuple[FollowUpFact, ...] = (),
            changes: tuple[str, ...] = ()) -> IncidentHistory:
    out = []
    for offset, kind, value in events:
        out.append(Event(T0 + offset, kind, severity=value if isinstance(value, str) else None,
                         level=value if isinstance(value, int) else None))
    return IncidentHistory(1, "INC-0001", "Search is slow", T0, tuple(out), followups, changes)


def test_quantiles_interpolate_between_the_closest_ranks() -> None:
    assert figures.quantile([10 * M, 20 * M], 0.5) == 15 * M
    assert figures.quantile([M * n for n in range(1, 11)], 0.9) == timedelta(minutes=9, seconds=6)
    assert figures.quantile([7 * M], 0.9) == 7 * M
    assert figures.quantile([], 0.5) is None


def test_an_incident_whose_severity_changes() -> None:
    """P2 → P1 after 20 minutes: the acknowledgement is judged against P1's 30 minutes (in force when
    it came), updates against P1's 30-minute cadence counted from the change."""
    found = figures.incident_figures(history(
        (0 * M, "declared", "P2"), (0 * M, "escalation", 2), (20 * M, "severity", "P1"),
        (25 * M, "acknowledged", None), (30 * M, "escalation", 3),
        (40 * M, "update", None),  # owed by 10:50 (the change + 30m): on time
        (65 * M, "escalation", 4),
        (85 * M, "update", None),  # owed by 11:10: late
        (120 * M, "resolved", None),  # owed by 11:55, none came: missed
    ), TARGETS, UNTIL, TODAY)
    assert (found.severity, found.highest) == ("P1", "P1")
    assert (found.tta, found.ttr) == (25 * M, 2 * H)
    assert found.acknowledged_in_time is True
    assert (found.updates_on_time, found.updates_late, found.updates_missed) == (1, 1, 1)
    assert found.escalation_level == 4


def test_a_downgraded_incident_keeps_its_highest_severity_and_its_acknowledgement_target() -> None:
    found = figures.incident_figures(history(
        (0 * M, "declared", "P0"), (14 * M, "update", None), (16 * M, "acknowledged", None),
        (30 * M, "severity", "P2"), (85 * M, "resolved", None)), TARGETS, UNTIL, TODAY)
    assert (found.severity, found.highest) == ("P2", "P0")
    assert found.acknowledged_in_time is False  # 16 minutes against P0's 15
    assert (found.updates_on_time, found.updates_late, found.updates_missed) == (1, 0, 0)  # P2 owes one at 11:30


def test_reopened_incidents_resolve_at_their_last_resolution() -> None:
    found = figures.incident_figures(history(
        (0 * M, "declared", "P2"), (5 * M, "acknowledged", None), (30 * M, "resolved", None),
        (50 * M, "reopened", None), (100 * M, "resolved", None)), TARGETS, UNTIL, TODAY)
    assert found.ttr == 100 * M and found.resolved_at == T0 + 100 * M
    assert found.updates_missed == 0  # an hour from the reopening had not passed


def test_unacknowledged_is_late_only_once_the_target_passed_and_p3_owes_no_updates() -> None:
    declared = history((0 * M, "declared", "P3"))
    assert figures.incident_figures(declared, TARGETS, T0 + 7 * H, TODAY).acknowledged_in_time is None
    late = figures.incident_figures(declared, TARGETS, T0 + 9 * H, TODAY)
    assert late.acknowledged_in_time is False and late.tta is None and late.ttr is None
    assert (late.updates_on_time, late.updates_late, late.updates_missed) == (0, 0, 0)


def test_follow_ups_open_and_overdue_as_they_stood() -> None:
    followups = (FollowUpFact(date(2026, 11, 27), T0, None),
                 FollowUpFact(date(2026, 12, 10), T0, None),
                 FollowUpFact(date(2026, 11, 25), T0, T0 + 2 * H))
    found = figures.incident_figures(history((0 * M, "declared", "P2"), followups=followups),
                                     TARGETS, UNTIL, TODAY)
    assert (found.followups, found.followups_open, found.followups_overdue) == (3, 2, 1)


def test_backups_gaps_and_the_last_restore_test() -> None:
    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=UTC)

    runs = [RunFact("backup.run", "succeeded", at(23, 7, 59), at(23, 8)),  # before the period
            RunFact("backup.run", "succeeded", at(23, 13, 59), at(23, 14)),
            RunFact("backup.run", "succeeded", at(24, 1, 59), at(24, 2)),
            RunFact("backup.run", "failed", at(26, 1, 59), at(26, 2)),
            RunFact("backup.verify", "succeeded", at(26, 5), at(26, 5, 1)),
            RunFact("backup.run", "succeeded", at(30, 4, 59), at(30, 5)),
            RunFact("backup.restore_test", "succeeded", at(29, 4), at(29, 4, 1) + timedelta(seconds=30))]
    found = figures.backup_figures(runs, at(23, 9), UNTIL, TARGETS)
    assert (found.taken, found.verified, found.failed, found.verify_runs) == (4, 3, 1, 1)
    assert found.worst_gap == timedelta(days=6, hours=3)
    assert (found.worst_gap_from, found.worst_gap_to) == (at(24, 2), at(30, 5))
    assert found.gap_within_rpo is False
    assert found.restore_time == timedelta(minutes=1, seconds=30) and found.restore_within_rto is True
    nothing = figures.backup_figures([], at(23, 9), UNTIL, TARGETS)
    assert nothing.worst_gap == UNTIL - at(23, 9) and nothing.last_restore_test_at is None


def test_changes_by_type() -> None:
    found = figures.change_figures([ChangeFact("normal", "rolled_back", False), ChangeFact("normal", "done", True),
                                    ChangeFact("standard", "done", False)])
    assert [(c.category, c.total, c.rolled_back, c.linked) for c in found] == [("normal", 2, 1, 1),
                                                                              ("standard", 1, 0, 0)]


def test_the_export_writes_one_row_per_incident_and_no_formulas() -> None:
    incident = figures.incident_figures(history((0 * M, "declared", "P1"), (10 * M, "acknowledged", None),
                                                changes=("CR-2026-0001",)), TARGETS, T0 + 20 * M, TODAY)
    risky = figures.IncidentFigures(**{**incident.__dict__, "title": "=HYPERLINK(\"x\")"})
    rows = list(csv.DictReader(io.StringIO(export.as_csv([incident, risky]))))
    assert rows[0]["incident"] == "INC-0001" and rows[0]["tta_seconds"] == "600" and rows[0]["ttr_seconds"] == ""
    assert rows[0]["declared_at"] == "2026-11-24T10:00:00Z" and rows[0]["linked_changes"] == "CR-2026-0001"
    assert rows[0]["acknowledged_in_time"] == "true"
    assert rows[1]["title"] == "'=HYPERLINK(\"x\")"
    assert export.as_json([incident])[0]["linked_changes"] == ["CR-2026-0001"]


@pytest.mark.parametrize(("text", "expected"), [
    ("report", ShowReport(7)), ("report 30d", ShowReport(30)), ("REPORT 90D", ShowReport(90)),
])
def test_report_periods(text: str, expected: ShowReport) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", ["report 2w", "report 7", "report 365d"])
def test_other_periods_say_which_ones_there_are(text: str) -> None:
    result = parse(text)
    assert isinstance(result, ParseError) and "`30d`" in result.message


def test_the_digest_time_is_a_cron_and_the_channel_may_be_none(tmp_path: Path) -> None:
    (tmp_path / "settings.yaml").write_text("weekly_digest: every monday\n")
    with pytest.raises(PlaybookError) as caught:
        load_playbook(tmp_path)
    [problem] = caught.value.problems
    assert (Path(problem.file).name, problem.key) == ("settings.yaml", "weekly_digest")
    assert "is not a cron expression" in problem.message
    (tmp_path / "settings.yaml").write_text("reports_channel: null\n")
    assert load_playbook(tmp_path).settings.reports_channel is None


def test_the_export_token_comes_from_the_environment() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s" * 20}
    assert load_settings(env).reports_token is None
    token = "0123456789abcdef0123"
    settings = load_settings({**env, "OPSBOT_REPORTS_TOKEN": token})
    assert settings.reports_token == token and token in settings.secrets and token not in repr(settings)
    with pytest.raises(SettingsError, match="at least 16 characters"):
        load_settings({**env, "OPSBOT_REPORTS_TOKEN": "short"})
