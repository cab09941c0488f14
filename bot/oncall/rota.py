"""Who is on call: a pure function of a schedule, its people, overrides and swaps, and a span of
time. No database, no Slack, no clock: the handoff timer, ``/oncall``, the feeds, the escalation
and the benchmark all ask it, and the property tests check it against a per-instant oracle.

The rules (docs/oncall.md):
- a layer's shift ``k`` is held by person ``k`` modulo its rotation, unless a swap gave that shift
  to someone else (the latest swap of a shift wins);
- a restricted layer covers only the parts of its shifts inside its windows;
- the first layer (in the file's order) that covers an instant decides;
- an override outranks every layer; of two overlapping overrides the later one wins.
So at every instant some layer or override covers, exactly one person is on call.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from playbooks.oncall import Layer, OncallSchedule, Window

Members = Callable[[str], Sequence[str]]
"""A user group's members by ``@handle`` (the directory's cached answer)."""


@dataclass(frozen=True)
class Shift:
    """One turn of one layer, before restrictions and overrides."""

    layer: int
    start: datetime
    end: datetime
    user: str


@dataclass(frozen=True)
class Override:
    """``user`` is on call from ``start`` to ``end`` whatever the layers say; ``order`` ranks
    overlapping overrides (higher wins: the database ID)."""

    start: datetime
    end: datetime
    user: str
    order: int = 0


@dataclass(frozen=True)
class Swap:
    """Layer ``layer``'s shift that starts at ``shift_start`` is held by ``user``."""

    layer: int
    shift_start: datetime
    user: str
    order: int = 0


@dataclass(frozen=True)
class Segment:
    """A stretch of the final schedule with one person on call; ``source`` is the layer's index or
    -1 for an override."""

    start: datetime
    end: datetime
    user: str
    source: int


def rotation(layer: Layer, members: Members) -> list[str]:
    """The layer's people in turn order: a group stands for its members (sorted, so the order is
    stable whatever order Slack lists them in); someone named twice keeps the first place."""
    people: list[str] = []
    for person in layer.people:
        people += sorted(members(person)) if person.startswith("@") else [person]
    return list(dict.fromkeys(people))


def _local(day: date, layer: Layer, schedule: OncallSchedule) -> datetime:
    return datetime.combine(day, layer.handoff_time, tzinfo=schedule.zone).astimezone(UTC)


def shift_start(layer: Layer, schedule: OncallSchedule, k: int) -> datetime:
    step = layer.step_days
    if step is not None:
        return _local(layer.first_day + timedelta(days=k * step), layer, schedule)
    assert isinstance(layer.shift, timedelta)
    return _local(layer.first_day, layer, schedule) + k * layer.shift


def shift_index(layer: Layer, schedule: OncallSchedule, at: datetime) -> int:
    """The index of the shift running at ``at`` (negative before the first shift)."""
    step = layer.step_days
    if step is None:
        assert isinstance(layer.shift, timedelta)
        return (at - _local(layer.first_day, layer, schedule)) // layer.shift
    days = (at.astimezone(schedule.zone).date() - layer.first_day).days
    k = days // step
    while shift_start(layer, schedule, k) > at:  # before the handoff time of that day
        k -= 1
    while shift_start(layer, schedule, k + 1) <= at:
        k += 1
    return k


def layer_shifts(schedule: OncallSchedule, index: int, people: Sequence[str], start: datetime, end: datetime,
                 swaps: dict[tuple[int, datetime], str] | None = None) -> list[Shift]:
    """The layer's shifts overlapping ``[start, end)``, swaps applied; none before its first shift
    or when its rotation is empty (a group without members)."""
    layer = schedule.layers[index]
    if not people:
        return []
    out: list[Shift] = []
    k = max(0, shift_index(layer, schedule, start))
    begin = shift_start(layer, schedule, k)
    while begin < end:
        finish = shift_start(layer, schedule, k + 1)
        user = (swaps or {}).get((index, begin), people[k % len(people)])
        out.append(Shift(index, begin, finish, user))
        k, begin = k + 1, finish
    return out


def _windows(windows: Sequence[Window], schedule: OncallSchedule, start: datetime, end: datetime
             ) -> list[tuple[datetime, datetime]]:
    """The restriction windows' stretches within ``[start, end)``, merged."""
    zone = schedule.zone
    pieces: list[tuple[datetime, datetime]] = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        for window in windows:
            if day.weekday() not in window.weekdays:
                continue
            t0, t1 = window.times
            a = datetime.combine(day, t0, tzinfo=zone).astimezone(UTC)
            b = datetime.combine(day + timedelta(days=1) if t1 <= t0 else day, t1, tzinfo=zone).astimezone(UTC)
            a, b = max(a, start), min(b, end)
            if a < b:
                pieces.append((a, b))
        day += timedelta(days=1)
    pieces.sort()
    merged: list[tuple[datetime, datetime]] = []
    for a, b in pieces:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def covered(schedule: OncallSchedule, shifts: Sequence[Shift]) -> list[tuple[Shift, datetime, datetime]]:
    """The parts of one layer's shifts (in order) its restrictions leave on call: all of them when
    unrestricted. The windows are laid out once for the whole span and walked alongside the shifts."""
    if not shifts:
        return []
    windows = schedule.layers[shifts[0].layer].restrictions
    if not windows:
        return [(shift, shift.start, shift.end) for shift in shifts]
    allowed = _windows(windows, schedule, shifts[0].start, shifts[-1].end)
    out: list[tuple[Shift, datetime, datetime]] = []
    w = 0
    for shift in shifts:
        while w < len(allowed) and allowed[w][1] <= shift.start:
            w += 1
        v = w
        while v < len(allowed) and allowed[v][0] < shift.end:
            a, b = max(allowed[v][0], shift.start), min(allowed[v][1], shift.end)
            if a < b:
                out.append((shift, a, b))
            v += 1
    return out


def swap_table(swaps: Iterable[Swap]) -> dict[tuple[int, datetime], str]:
    return {(s.layer, s.shift_start): s.user for s in sorted(swaps, key=lambda s: s.order)}


def final(schedule: OncallSchedule, members: Members, overrides: Iterable[Override], swaps: Iterable[Swap],
          start: datetime, end: datetime) -> list[Segment]:
    """The final schedule over ``[start, end)``: consecutive, non-overlapping segments, adjacent
    ones of the same person joined; gaps where nothing covers."""
    table = swap_table(swaps)
    # (start, end, rank, user, source): the lowest rank covering an instant decides; overrides rank
    # below every layer (the later the lower), layers by their place in the file
    intervals: list[tuple[datetime, datetime, int, str, int]] = []
    for o in overrides:
        a, b = max(o.start, start), min(o.end, end)
        if a < b:
            intervals.append((a, b, -1 - o.order, o.user, -1))
    for index, layer in enumerate(schedule.layers):
        shifts = layer_shifts(schedule, index, rotation(layer, members), start, end, table)
        for shift, a, b in covered(schedule, shifts):
            a, b = max(a, start), min(b, end)
            if a < b:
                intervals.append((a, b, index, shift.user, index))
    return sweep(intervals)


def sweep(intervals: list[tuple[datetime, datetime, int, str, int]]) -> list[Segment]:
    """Intervals with ranks into segments where the lowest rank decides (a heap of the active ones,
    ended ones dropped lazily): O(n log n)."""
    intervals.sort(key=lambda i: i[0])
    bounds = sorted({i[0] for i in intervals} | {i[1] for i in intervals})
    active: list[tuple[int, datetime, str, int]] = []
    out: list[Segment] = []
    current: list = []  # [start, end, user, source] of the stretch being built
    j, n = 0, len(intervals)
    for t, t_next in zip(bounds, bounds[1:], strict=False):
        while j < n and intervals[j][0] <= t:
            a, b, rank, user, source = intervals[j]
            heapq.heappush(active, (rank, b, user, source))
            j += 1
        while active and active[0][1] <= t:
            heapq.heappop(active)
        if not active:
            continue
        _, _, user, source = active[0]
        if current and current[1] == t and current[2] == user:
            current[1] = t_next
        else:
            if current:
                out.append(Segment(*current))
            current = [t, t_next, user, source]
    if current:
        out.append(Segment(*current))
    return out


def at(segments: Sequence[Segment], when: datetime) -> Segment | None:
    """The segment running at ``when``, if any."""
    return next((s for s in segments if s.start <= when < s.end), None)


def after(segments: Sequence[Segment], when: datetime) -> Segment | None:
    """Who comes next: the first segment after the current one (adjacent segments are different
    people, since joined ones are not) or, in a gap, the first one to come."""
    current = at(segments, when)
    begin = current.end if current is not None else when
    return next((s for s in segments if s.start >= begin and s is not current), None)


def next_change(segments: Sequence[Segment], when: datetime) -> datetime | None:
    """The first instant after ``when`` at which who is on call changes (a handoff, or a gap's
    start or end); None when nothing in ``segments`` changes after ``when``."""
    current = at(segments, when)
    if current is not None:
        return current.end
    return next((s.start for s in segments if s.start > when), None)


def on_call(segments: Sequence[Segment], when: datetime) -> tuple[str, ...]:
    """Who is on call at ``when``: one person, or nobody in a gap."""
    current = at(segments, when)
    return (current.user,) if current is not None else ()
