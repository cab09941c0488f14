"""The schedule form's parsers and windows.yaml validation: any input gives a form or field
errors (never an exception); times are read in the pack's time zone; pack mistakes name the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.windows.forms import WindowForm, parse_form, parse_start
from playbooks.loader import PACK_DIR, PlaybookError, load_playbook

pytestmark = pytest.mark.kind("unit")

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
_field = st.one_of(st.none(), st.text(max_size=60), st.integers(), st.lists(st.text(max_size=5), max_size=2),
                   st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))
_entry = st.one_of(_field, st.fixed_dictionaries({"value": _field}))
_block = st.one_of(_field, st.fixed_dictionaries({"value": _entry}))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["start", "duration", "title", "activities", "impact", "services", "x"]),
                       _block, max_size=7))
def test_any_form_state_gives_a_form_or_field_errors(values: dict[str, Any]) -> None:
    result = parse_form(values, BERLIN, NOW)
    if isinstance(result, dict):
        assert result and all(isinstance(k, str) and isinstance(v, str) and v for k, v in result.items())
    else:
        assert isinstance(result, WindowForm) and result.starts_at > NOW and result.title


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_start_text_parses_or_says_why(text: str) -> None:
    try:
        start = parse_start(text, BERLIN, NOW)
    except ValueError as exc:
        assert str(exc)
    else:
        assert start.tzinfo is not None and start > NOW


def values(**fields: str) -> dict[str, Any]:
    return {block: {"value": {"type": "plain_text_input", "value": value}} for block, value in fields.items()}


def test_times_are_read_in_the_pack_time_zone() -> None:
    form = parse_form(values(start="2026-12-06 22:00", duration="2h30m", title=" Upgrade ",
                             activities="- one\n\n• two\n", services="db, api db"), BERLIN, NOW)
    assert isinstance(form, WindowForm)
    assert form.starts_at == datetime(2026, 12, 6, 21, 0, tzinfo=UTC)  # CET is UTC+1
    assert form.ends_at - form.starts_at == timedelta(hours=2, minutes=30)
    assert (form.title, form.activities, form.services) == ("Upgrade", ("one", "two"), ("db", "api"))
    assert parse_form(values(start="2027-12-06 22:00", duration="1h", title="x"), BERLIN, NOW) == {
        "start": "Schedule windows at most a year ahead."}


def write(folder: Path, **changes: Any) -> Path:
    pack = yaml.safe_load((PACK_DIR / "windows.yaml").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "windows.yaml").write_text(yaml.safe_dump({**pack, **changes}))
    return folder


@pytest.mark.parametrize(("changes", "key", "problem"), [
    ({"templates": {"notice_24h": "at $strat", "notice_2h": "x", "complete": "x", "cancelled": "x", "moved": "x"}},
     "templates.notice_24h", "unknown placeholder $strat"),
    ({"standing": [{"key": "w", "title": "W", "every": "weekly", "at": "22:00", "duration": "1h"}]},
     "standing.w", "needs day (a weekday, like sunday)"),
    ({"standing": [{"key": "d", "title": "D", "every": "daily", "at": "25:00", "duration": "1h"}]},
     "standing.d.at", "'25:00' is not a time of day"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
    ({"horizon": "12h"}, "", "horizon must be more than 1d"),
    ({"checklist": {"T-1h": [{"key": "a", "text": "A"}]}}, "checklist.T-1h", "'T-24h', 'T-2h', 'T-30m' or 'T-0'"),
])
def test_pack_mistakes_name_the_file_and_key(tmp_path: Path, changes: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(write(tmp_path / "pack", **changes))
    [found] = caught.value.problems
    assert found.file.endswith("windows.yaml") and found.key.startswith(key) and problem in found.message
