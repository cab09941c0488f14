"""parse_duration reads what people type into playbooks: a duration or a clear ValueError."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playbooks.durations import format_duration, parse_duration

pytestmark = pytest.mark.kind("unit")

DURATION_LIKE = st.from_regex(r"\A\s?[0-9]{1,25}[smhdwSMx](\s?[0-9]{0,25}[smhdw]){0,3}\s?\Z")
WHOLE_SECONDS = st.integers(0, timedelta.max // timedelta(seconds=1)).map(lambda s: timedelta(seconds=s))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1h 30m", timedelta(minutes=90)),
        (" 0m ", timedelta(0)),
    ],
)
def test_examples(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "15", "m", "15 m", "1.5h", "-5m", "15M", "soon", "٣m", None, 15, "9" * 30 + "w"])
def test_rejects_with_a_hint(text: object) -> None:
    with pytest.raises(ValueError, match="write it like 30s, 15m, 2h, 7d or 1h30m"):
        parse_duration(text)


@given(st.one_of(st.text(), DURATION_LIKE))
def test_any_text_parses_or_raises_value_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        assert "write it like" in str(exc)
        assert len(str(exc)) < 200  # a pasted novel doesn't come back whole
    else:
        assert value >= timedelta(0)


@given(WHOLE_SECONDS)
def test_format_then_parse_round_trips(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value
    assert parse_duration(format_duration(value).replace(" ", "")) == value
