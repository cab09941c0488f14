"""Who is on call (``bot.oncall.rota``), checked against a per-instant oracle written independently
of the sweep: for any layers, restrictions, overrides and swaps, exactly one person is on call at
every instant some layer or override covers, and it is the person the rules name."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.oncall import rota
from playbooks.oncall import WEEKDAYS, OncallSchedule

pytestmark = pytest.mark.kind("unit")

PEOPLE = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"]
GROUPS = {"@sre": ["U0KIM", "U0LEO"], "@empty": []}
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
BEGIN = datetime(2026, 3, 20, tzinfo=UTC)  # spans Europe's and America's DST changes
END = BEGIN + timedelta(days=21)


def members(handle: str) -> list[str]:
    return GROUPS[handle]


clock = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
window = st.one_of(
    st.sampled_from(["business_hours", "weekends"]),
    st.fixed_dictionaries({"days": st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True),
                           "start": clock, "end": clock}),
)
layer = st.fixed_dictionaries({
    "people": st.lists(st.sampled_from([*PEOPLE, "@sre", "@empty"]), min_size=1, max_size=4),
    "shift": st.one_of(st.sampled_from(["daily", "weekly"]), st.integers(1, 60).map(lambda h: f"{h}h")),
    "handoff": clock,
    "handoff_day": st.sampled_from(WEEKDAYS),
    "start": st.dates(date(2026, 3, 1), date(2026, 4, 5)).map(str),
    "restrictions": st.lists(window, max_size=2),
})
schedule = st.fixed_dictionaries({"timezone": st.sampled_from(ZONES), "layers": st.lists(layer, min_size=1, max_size=3)}
                                 ).map(OncallSchedule.model_validate)
instant = st.integers(0, int((END - BEGIN).total_seconds()) - 1).map(lambda s: BEGIN + timedelta(seconds=s))


# -- the oracle: one instant at a time, from the rules as docs/oncall.md states them -----------------
def _shift_start_at(s: OncallSchedule, index: int, t: datetime) -> tuple[int, datetime] | None:
    lay = s.layers[index]
    zone = ZoneInfo(s.timezone)
    hand = time.fromisoformat(lay.handoff)
    first = lay.first_day
    if isinstance(lay.shift, timedelta):
        origin = datetime.combine(first, hand, tzinfo=zone).astimezone(UTC)
        if t < origin:
            return None
        k = int((t - origin) / lay.shift)
        return k, origin + k * lay.shift
    step = 1 if lay.shift == "daily" else 7
    day = t.astimezone(zone).date() + timedelta(days=1)
    for _ in range(step + 3):
        begin = datetime.combine(day, hand, tzinfo=zone).astimezone(UTC)
        if (day - first).days % step == 0 and begin <= t and day >= first:
            return (day - first).days // step, begin
        day -= timedelta(days=1)
    return None


def _allowed(s: OncallSchedule, index: int, t: datetime) -> bool:
    windows = s.layers[index].restrictions
    if not windows:
        return True
    zone = ZoneInfo(s.timezone)
    local_day = t.astimezone(zone).date()
    for w in windows:
        t0, t1 = time.fromisoformat(w.start), time.fromisoformat(w.end)
        for day in (local_day, local_day - timedelta(days=1)):
            if WEEKDAYS[day.weekday()] not in w.days:
                continue
            a = datetime.combine(day, t0, tzinfo=zone).astimezone(UTC)
            b = datetime.combine(day + timedelta(days=1) if t1 <= t0 else day, t1, tzinfo=zone).astimezone(UTC)
            if a <= t < b:
                return True
    return False


def oracle(s: OncallSchedule, overrides: list[rota.Override], swaps: list[rota.Swap], t: datetime) -> str | None:
    winning = [o for o in overrides if o.start <= t < o.end]
    if winning:
        return max(winning, key=lambda o: o.order).user
    for index, lay in enumerate(s.layers):
        people: list[str] = []
        for p in lay.people:
            people += sorted(GROUPS[p]) if p.startswith("@") else [p]
        people = list(dict.fromkeys(people))
        found = _shift_start_at(s, index, t)
        if not people or found is None or not _allowed(s, index, t):
            continue
        k, begin = found
        swapped = [w for w in swaps if w.layer == index and w.shift_start == begin]
        return max(swapped, key=lambda w: w.order).user if swapped else people[k % len(people)]
    return None


@st.composite
def scenario(draw: st.DrawFn) -> tuple[OncallSchedule, list[rota.Override], list[rota.Swap], list[datetime]]:
    s = draw(schedule)
    overrides = [rota.Override(a, a + timedelta(minutes=m), draw(st.sampled_from(PEOPLE)), order)
                 for order, (a, m) in enumerate(draw(st.lists(st.tuples(instant, st.integers(1, 3000)), max_size=4)))]
    swaps: list[rota.Swap] = []
    for order in range(draw(st.integers(0, 3))):
        index = draw(st.integers(0, len(s.layers) - 1))
        shifts = rota.layer_shifts(s, index, rota.rotation(s.layers[index], members), BEGIN, END)
        if shifts:
            shift = draw(st.sampled_from(shifts))
            swaps.append(rota.Swap(index, shift.start, draw(st.sampled_from(PEOPLE)), order))
    times = draw(st.lists(instant, min_size=5, max_size=30))
    return s, overrides, swaps, times


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_exactly_the_person_the_rules_name_is_on_call(case) -> None:
    s, overrides, swaps, times = case
    segments = rota.final(s, members, overrides, swaps, BEGIN, END)
    for before, nxt in zip(segments, segments[1:], strict=False):
        assert before.start < before.end <= nxt.start  # ordered, never overlapping: one person at a time
        assert before.end < nxt.start or before.user != nxt.user  # adjacent stretches are joined
    edges = [seg.start for seg in segments] + [seg.end - timedelta(microseconds=1) for seg in segments]
    edges += [o.start for o in overrides if BEGIN <= o.start < END] + [o.end for o in overrides if BEGIN <= o.end < END]
    for t in times + edges:
        found = [seg for seg in segments if seg.start <= t < seg.end]
        assert len(found) <= 1
        assert (found[0].user if found else None) == oracle(s, overrides, swaps, t), t


def test_a_weekly_handoff_keeps_its_wall_clock_time_across_daylight_saving() -> None:
    s = OncallSchedule.model_validate({"timezone": "Europe/Berlin", "layers": [
        {"people": ["U0ALICE", "U0BOB"], "shift": "weekly", "handoff": "09:00", "handoff_day": "monday",
         "start": "2026-03-16"}]})
    segments = rota.final(s, members, [], [], datetime(2026, 3, 16, tzinfo=UTC), datetime(2026, 4, 7, tzinfo=UTC))
    starts = [(seg.start.astimezone(ZoneInfo("Europe/Berlin")).strftime("%a %H:%M"), seg.user) for seg in segments]
    assert starts == [("Mon 09:00", "U0ALICE"), ("Mon 09:00", "U0BOB")] * 2
    assert rota.next_change(segments, datetime(2026, 3, 25, tzinfo=UTC)) == datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert rota.after(segments, datetime(2026, 3, 25, tzinfo=UTC)).user == "U0ALICE"


def test_an_override_outranks_layers_and_a_swap_moves_one_shift() -> None:
    s = OncallSchedule.model_validate({"layers": [{"people": ["U0ALICE", "U0BOB"], "shift": "daily",
                                                    "handoff": "00:00", "start": "2026-12-01"}]})
    day = datetime(2026, 12, 1, tzinfo=UTC)
    swap = rota.Swap(0, day + timedelta(days=1), "U0CAROL")
    over = rota.Override(day + timedelta(hours=6), day + timedelta(hours=8), "U0DAVE")
    segments = rota.final(s, members, [over], [swap], day, day + timedelta(days=3))
    assert [(seg.user, seg.start.hour, (seg.end - seg.start)) for seg in segments] == [
        ("U0ALICE", 0, timedelta(hours=6)), ("U0DAVE", 6, timedelta(hours=2)), ("U0ALICE", 8, timedelta(hours=16)),
        ("U0CAROL", 0, timedelta(days=1)), ("U0ALICE", 0, timedelta(days=1))]
