"""`opsbot import-schedule`: exports shaped like PagerDuty's ``GET /schedules/{id}`` and Opsgenie's
``GET /v2/schedules/{identifier}`` responses (from their API references) become oncall.yaml
schedules that load in the pack and put the same people on call; what cannot be carried over is
reported, never guessed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.oncall import rota
from playbooks.loader import load_playbook

pytestmark = pytest.mark.kind("unit")

PAGERDUTY = {"schedule": {
    "id": "PI7DH85", "type": "schedule", "summary": "Daily Engineering Rotation", "name": "Daily Engineering Rotation",
    "time_zone": "America/New_York", "description": "Rotation schedule for engineering",
    "schedule_layers": [
        {"id": "PG68P1M", "name": "Night Shift", "start": "2026-11-06T20:00:00-05:00", "end": None,
         "rotation_virtual_start": "2026-11-06T20:00:00-05:00", "rotation_turn_length_seconds": 86400,
         "users": [{"user": {"id": "PXPGF42", "type": "user_reference", "summary": "Earline Greenholt"}},
                   {"user": {"id": "PAM4FGS", "type": "user_reference", "summary": "Kyler Kuhn"}},
                   {"user": {"id": "PGONE00", "type": "user_reference", "summary": "Gone Person"}}],
         "restrictions": [{"type": "daily_restriction", "start_time_of_day": "20:00:00", "duration_seconds": 43200}]},
        {"id": "PWEEKND", "name": "Weekend", "start": "2026-11-07T09:00:00-05:00", "end": "2027-06-01T00:00:00-04:00",
         "rotation_virtual_start": "2026-11-07T09:00:00-05:00", "rotation_turn_length_seconds": 604800,
         "users": [{"user": {"id": "PAM4FGS", "type": "user_reference", "summary": "Kyler Kuhn"}}],
         "restrictions": [{"type": "weekly_restriction", "start_time_of_day": "09:00:00",
                           "duration_seconds": 129600, "start_day_of_week": 6}]},
    ],
    "users": [], "teams": []}}

OPSGENIE = {"data": {
    "id": "d875alp4-9b4e-4219-alp3-0c26936d18de", "name": "SRE Schedule", "description": "",
    "timezone": "Europe/Berlin",
    "enabled": True, "ownerTeam": {"id": "90098alp9-f0e3-41d3-a060-0ea895e9ffc2", "name": "SRE"},
    "rotations": [
        {"id": "a47alp9-1e6f-4fa8-9d1a-6f5cd4f1b1bd", "name": "Weekdays", "startDate": "2026-11-02T08:00:00Z",
         "type": "weekly", "length": 1,
         "participants": [{"type": "user", "id": "b5b92115-bfe7-43eb-8c2a-e467f2e5ddc4", "username": "kim@example.com"},
                          {"type": "team", "id": "7f...", "name": "Platform"},
                          {"type": "user", "id": "6a1...", "username": "leo@example.com"}],
         "timeRestriction": {"type": "weekday-and-time-of-day", "restrictions": [
             {"startDay": "monday", "startHour": 8, "startMin": 0, "endDay": "friday", "endHour": 18, "endMin": 30}]}},
        {"id": "c3...", "name": "Nights", "startDate": "2026-11-02T17:00:00Z", "type": "hourly", "length": 12,
         "participants": [{"type": "user", "id": "6a1...", "username": "leo@example.com"}, {"type": "none"}],
         "timeRestriction": {"type": "time-of-day",
                             "restriction": {"startHour": 18, "startMin": 0, "endHour": 6, "endMin": 0}}},
    ]}, "took": 0.1, "requestId": "3f...-req"}

USERS = {"PXPGF42": "U0ALICE", "Kyler Kuhn": "U0KIM", "kim@example.com": "U0KIM", "leo@example.com": "U0LEO"}


def run(tmp_path: Path, export: dict, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    (tmp_path / "export.json").write_text(json.dumps(export))
    (tmp_path / "users.yaml").write_text(yaml.safe_dump(USERS))
    code = main(["import-schedule", str(tmp_path / "export.json"), "--users", str(tmp_path / "users.yaml"), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def loaded(tmp_path: Path, out: str):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "oncall.yaml").write_text(out)
    return load_playbook(pack).oncall


def test_a_pagerduty_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, PAGERDUTY, capsys)
    assert code == 0, err
    settings = loaded(tmp_path, out)
    schedule = settings.schedules["daily-engineering-rotation"]
    night, weekend = schedule.layers
    assert (schedule.timezone, night.people, night.shift, night.handoff, str(night.start)) == (
        "America/New_York", ["U0ALICE", "U0KIM"], "daily", "20:00", "2026-11-06")
    assert (weekend.shift, weekend.handoff_day) == ("weekly", "saturday")
    assert [(w.days, w.start, w.end) for w in weekend.restrictions] == [
        (["saturday"], "09:00", "00:00"), (["sunday"], "00:00", "21:00")]
    # who is on call reads as PagerDuty would have it: nights only, in turn
    segments = rota.final(schedule, lambda _: (), [], [], datetime(2026, 11, 9, 12, tzinfo=UTC),
                          datetime(2026, 11, 11, 12, tzinfo=UTC))
    shown = [(f"{s.start.astimezone(schedule.zone):%a %H:%M}–{s.end.astimezone(schedule.zone):%a %H:%M}", s.user)
             for s in segments]
    assert shown == [("Mon 07:00–Mon 08:00", "U0ALICE"), ("Mon 20:00–Tue 08:00", "U0KIM"),
                     ("Tue 20:00–Wed 07:00", "U0ALICE")]
    assert "Night Shift: user 'Gone Person' has no Slack user in the map" in err
    assert "Weekend: ends at 2027-06-01T00:00:00-04:00" in err
    assert "layer order kept as exported" in err


def test_an_opsgenie_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, OPSGENIE, capsys, "--name", "sre")
    assert code == 0, err
    weekdays, nights = loaded(tmp_path, out).schedules["sre"].layers
    assert (weekdays.people, weekdays.shift, weekdays.handoff, weekdays.handoff_day) == (
        ["U0KIM", "U0LEO"], "weekly", "09:00", "monday")  # 08:00Z is 09:00 in Berlin
    assert [(w.days, w.start, w.end) for w in weekdays.restrictions] == [
        (["monday"], "08:00", "00:00"), (["tuesday", "wednesday", "thursday"], "00:00", "00:00"),
        (["friday"], "00:00", "18:30")]
    assert nights.shift.total_seconds() == 12 * 3600 and nights.people == ["U0LEO"]
    assert [(w.start, w.end) for w in nights.restrictions] == [("18:00", "00:00"), ("00:00", "06:00")]
    assert "participant 'Platform' (team) is not a person" in err and "participant 'none' (none)" in err


def test_what_it_cannot_read_is_said_in_a_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, {"schedules": []}, capsys)
    assert (code, out) == (1, "") and "not a PagerDuty schedule" in err and "Traceback" not in err
    nobody = json.loads(json.dumps(PAGERDUTY))
    for layer in nobody["schedule"]["schedule_layers"]:
        layer["users"] = [{"user": {"id": "PNOBODY", "summary": "Nobody"}}]
    code, out, err = run(tmp_path, nobody, capsys)
    assert (code, out) == (1, "") and "no layer could be carried over" in err
    (tmp_path / "broken.json").write_text("{not json")
    assert main(["import-schedule", str(tmp_path / "broken.json"), "--users", str(tmp_path / "users.yaml")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
