"""actions.yaml and schedules.yaml: declarations validate with file and key, parameters resolve
against them, schedules fire at the right times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.executor import commands as cmd
from bot.executor.schedules import latest_firing
from bot.ops.registry import operation_problems
from playbooks.actions import ParameterError, Schedule, resolve_parameters
from playbooks.loader import load_playbook
from tests.test_playbooks import only_problem, write_override

pytestmark = pytest.mark.kind("unit")


def test_default_pack_declares_the_backup_actions_and_schedules() -> None:
    pack = load_playbook()
    assert pack.actions["backup.restore"].risk == "critical"
    assert pack.actions["backup.restore"].approvals_needed == 2
    assert pack.actions["backup.run"].approvals_needed == 0
    assert pack.schedules["nightly-full-backup"].cron == "0 2 * * *"
    assert operation_problems(pack) == []


def test_critical_action_with_one_approval_is_refused_with_file_and_key(tmp_path: Path) -> None:
    write_override(tmp_path, "actions.yaml", lambda d: d["backup.restore"]["approvals"].update(count=1))
    problem = only_problem(tmp_path)
    assert problem.file.endswith("actions.yaml")
    assert "backup.restore" in problem.key and "at least 2" in problem.message


def test_unknown_approver_role_is_named(tmp_path: Path) -> None:
    write_override(tmp_path, "actions.yaml",
                   lambda d: d["backup.restore"]["approvals"]["approvers"].append("role:nobody"))
    problem = only_problem(tmp_path)
    assert "approvers" in problem.key and "unknown role" in problem.message


def test_schedule_of_an_unknown_action_or_bad_cron_is_refused(tmp_path: Path) -> None:
    write_override(tmp_path, "schedules.yaml", lambda d: d["nightly-full-backup"].update(action="backup.nope"))
    problem = only_problem(tmp_path)
    assert "nightly-full-backup" in problem.key and "backup.nope" in problem.message
    write_override(tmp_path, "schedules.yaml", lambda d: d["nightly-full-backup"].update(cron="0 25 * * *"))
    assert "cron" in only_problem(tmp_path).key


def test_schedule_parameters_are_checked_against_the_action(tmp_path: Path) -> None:
    write_override(tmp_path, "schedules.yaml", lambda d: d["database-backup"]["parameters"].update(kind="half"))
    problem = only_problem(tmp_path)
    assert "database-backup" in problem.key and "full, database" in problem.message


def test_command_argv_placeholders_must_be_parameters(tmp_path: Path) -> None:
    (tmp_path / "actions.yaml").write_text(
        "restart:\n  description: restart\n  operation: command\n  argv: [systemctl, restart, '{service}']\n"
        "  risk: low\n  timeout: 1m\n")
    (tmp_path / "schedules.yaml").write_text("")
    assert "service" in only_problem(tmp_path).message


def test_resolve_fills_defaults_and_converts_types() -> None:
    action = load_playbook().actions["backup.prune"]
    assert resolve_parameters(action, {}) == {"dry_run": False}
    assert resolve_parameters(action, {"dry_run": "yes"}) == {"dry_run": True}
    with pytest.raises(ParameterError, match="yes or no"):
        resolve_parameters(action, {"dry_run": "maybe"})
    with pytest.raises(ParameterError, match="no parameter force"):
        resolve_parameters(action, {"force": "1"})


def test_resolve_refuses_values_outside_the_declaration() -> None:
    restore = load_playbook().actions["backup.restore"]
    with pytest.raises(ParameterError, match="needs `id="):
        resolve_parameters(restore, {})
    with pytest.raises(ParameterError, match="must match"):
        resolve_parameters(restore, {"id": "../../etc"})
    with pytest.raises(ParameterError, match="must match"):
        resolve_parameters(restore, {"id": "latest", "database": "app; DROP TABLE users"})


RESTORE = load_playbook().actions["backup.restore"]  # loaded once: each example only resolves


@given(st.dictionaries(st.sampled_from(["id", "database", "kind", "x"]), st.text(max_size=50), max_size=3))
def test_resolve_gives_parameters_or_a_parameter_error(given_params: dict[str, str]) -> None:
    try:
        resolved = resolve_parameters(RESTORE, dict(given_params))
    except ParameterError as exc:
        assert str(exc)
    else:
        assert set(resolved) <= {"id", "database"}


def test_backup_command_parsing() -> None:
    assert cmd.parse_backup("") == cmd.Help()
    assert cmd.parse_backup("run kind=database") == cmd.RequestAction("backup.run", {"kind": "database"})
    assert cmd.parse_backup("restore 20261128T020000Z database=scratch") == cmd.RequestAction(
        "backup.restore", {"id": "20261128T020000Z", "database": "scratch"})
    assert cmd.parse_backup("prune --dry-run") == cmd.RequestAction("backup.prune", {"dry_run": "yes"})
    assert cmd.parse_backup("list") == cmd.Show("list")
    assert isinstance(cmd.parse_backup("restore"), cmd.ParseError)
    assert isinstance(cmd.parse_backup("run now please"), cmd.ParseError)
    assert isinstance(cmd.parse_backup("explode"), cmd.ParseError)


@given(st.text(max_size=200))
def test_any_backup_text_parses_or_explains(text: str) -> None:
    result = cmd.parse_backup(text)
    assert isinstance(result, cmd.ParseError | cmd.Help | cmd.Show | cmd.RequestAction)
    if isinstance(result, cmd.ParseError):
        assert result.message


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_latest_firing_within_grace_and_once_for_several_missed() -> None:
    every_6h = Schedule(action="backup.run", cron="0 */6 * * *")
    assert latest_firing(every_6h, UTC, _at("2026-11-28T06:00:00")) == _at("2026-11-28T06:00:00")
    assert latest_firing(every_6h, UTC, _at("2026-11-28T06:29:00")) == _at("2026-11-28T06:00:00")
    assert latest_firing(every_6h, UTC, _at("2026-11-28T06:31:00")) is None
    assert latest_firing(every_6h, UTC, _at("2026-11-28T05:59:59")) is None
    minutely = Schedule(action="backup.run", cron="* * * * *")
    assert latest_firing(minutely, UTC, _at("2026-11-28T06:10:30"), timedelta(minutes=5)) == _at("2026-11-28T06:10:00")


def test_latest_firing_uses_the_pack_time_zone() -> None:
    nightly = Schedule(action="backup.run", cron="0 2 * * *")
    berlin = ZoneInfo("Europe/Berlin")
    assert latest_firing(nightly, berlin, _at("2026-11-28T01:05:00")) == _at("2026-11-28T01:00:00")
    assert latest_firing(nightly, berlin, _at("2026-11-28T02:05:00")) is None


def test_ops_command_parsing() -> None:
    assert cmd.parse_ops("run demo.echo word=hi") == cmd.RequestAction("demo.echo", {"word": "hi"})
    assert cmd.parse_ops("list") == cmd.Show("list")
    assert isinstance(cmd.parse_ops("run"), cmd.ParseError)
    assert isinstance(cmd.parse_ops("run demo.echo; rm -rf /"), cmd.ParseError)


@given(st.text(max_size=200))
def test_any_ops_text_parses_or_explains(text: str) -> None:
    result = cmd.parse_ops(text)
    assert isinstance(result, cmd.ParseError | cmd.Help | cmd.Show | cmd.RequestAction)
