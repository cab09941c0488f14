"""On-call pieces without Slack: the `/oncall` parser for any text, `oncall.yaml` problems naming
the file and the key, the handoff timer's chain (the user group equals who is on call after every
handoff, whatever the layers, overrides, swaps and hand edits), and a handoff told once when two
replicas run the tick at the same moment."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from bot.commands import Help, ParseError
from bot.oncall import commands as cmd
from bot.oncall import rota, service
from bot.oncall.timers import OncallTimers
from bot.paging.commands import AddContact
from bot.work import UnitOfWork
from playbooks.loader import PACK_DIR, PlaybookError, load_playbook
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import OutboundMessage
from tests.support.clock import FakeClock
from tests.support.directory import StaticDirectory
from tests.test_oncall_rota import BEGIN, END, members, scenario

pytestmark = pytest.mark.kind("unit")


# -- the parser ------------------------------------------------------------------------------------------
@given(st.text(max_size=200))
def test_any_text_parses_to_a_command_or_a_message(text: str) -> None:
    parsed = cmd.parse_oncall(text)
    assert isinstance(parsed, cmd.Show | cmd.Mine | cmd.Override | cmd.Swap | Help | ParseError)
    if isinstance(parsed, ParseError):
        assert parsed.message and "Traceback" not in parsed.message


def test_the_commands_people_write() -> None:
    assert cmd.parse_oncall("") == cmd.Show()
    assert cmd.parse_oncall(" ME ") == cmd.Mine()
    assert cmd.parse_oncall("override <@U0BOB|bob> now 4h") == cmd.Override("U0BOB", None, timedelta(hours=4), None)
    assert cmd.parse_oncall("override <@U0BOB> 2026-12-05T18:00 2026-12-06 primary") == cmd.Override(
        "U0BOB", datetime(2026, 12, 5, 18), datetime(2026, 12, 6), "primary")
    assert cmd.parse_oncall("swap <@U0BOB> next") == cmd.Swap("U0BOB", None, None)
    assert cmd.parse_oncall("swap <@U0BOB> 2026-12-05 secondary") == cmd.Swap("U0BOB", date(2026, 12, 5), "secondary")
    assert cmd.parse_oncall("contact add email a@b.c") == cmd.Contact(AddContact("email", "a@b.c"))
    assert cmd.parse_oncall("contact help") == cmd.Contact(Help())
    for text, hint in (("override bob now 4h", "as a mention"), ("override <@U0BOB> soon 4h", "not a time"),
                       ("override <@U0BOB> now 100d", "not an end"), ("override <@U0BOB> 2026-12-06 2026-12-05",
                                                                     "before the start"),
                       ("swap <@U0BOB> 2026-02-30", "not a shift"), ("swap <@U0BOB> next a b", "Too many words"),
                       ("contact add pager 123", "email"), ("frobnicate", "I don't know")):
        parsed = cmd.parse_oncall(text)
        assert isinstance(parsed, ParseError) and hint in parsed.message, (text, parsed)


# -- the pack ----------------------------------------------------------------------------------------------
def test_check_names_the_file_and_the_key(tmp_path: Path) -> None:
    (tmp_path / "oncall.yaml").write_text(yaml.safe_dump({"schedules": {"primary": {
        "timezone": "Mars/Olympus", "usergroup": "oncall",
        "layers": [{"people": ["bob"], "shift": "fortnightly", "restrictions": ["lunchtime"]}]}}}))
    levels = yaml.safe_load((PACK_DIR / "escalation.yaml").read_text())
    levels[0]["notify"] = ["schedule:nope"]
    (tmp_path / "escalation.yaml").write_text(yaml.safe_dump(levels))
    with pytest.raises(PlaybookError) as raised:
        load_playbook(tmp_path)
    shown = [str(p) for p in raised.value.problems]
    for key in ("schedules.primary.timezone", "schedules.primary.usergroup", "schedules.primary.layers[0].people[0]",
                "schedules.primary.layers[0].shift: 'fortnightly' is not a shift length",
                "schedules.primary.layers[0].restrictions[0]: unknown restriction 'lunchtime'"):
        assert any(f"oncall.yaml: {key}" in s for s in shown), (key, shown)
    (tmp_path / "oncall.yaml").write_text(yaml.safe_dump({"schedules": {"primary": {
        "usergroup": "@oncall", "layers": [{"people": ["@oncall"]}]}}}))
    with pytest.raises(PlaybookError) as raised:
        load_playbook(tmp_path)
    assert any(p.key == "schedules.primary" and "@oncall follows this schedule" in p.message
               for p in raised.value.problems)
    ok = {"schedules": {"primary": {"layers": [{"people": ["U0ALICE"]}]}}}
    (tmp_path / "oncall.yaml").write_text(yaml.safe_dump(ok))
    with pytest.raises(PlaybookError) as raised:
        load_playbook(tmp_path)
    assert [(Path(p.file).name, p.key, p.message) for p in raised.value.problems] == [
        ("escalation.yaml", "[0].notify[0]",
         "unknown on-call schedule 'schedule:nope'; oncall.yaml's schedules are primary")]


# -- the handoff timer's chain ---------------------------------------------------------------------------
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(), st.lists(st.integers(0, 10_000), max_size=5))
def test_the_group_equals_who_is_on_call_after_every_handoff(case, edits: list[int]) -> None:
    """The tick runs only when the timer says (each handoff plans the next); hand edits happen in
    between and the drift check puts them back. After every handoff, and at every instant until the
    next one, the group is exactly who is on call (Slack cannot empty a group: a gap keeps it)."""
    s, overrides, swaps, times = case
    segments = rota.final(s, members, overrides, swaps, BEGIN, END)
    horizon = timedelta(days=35)
    group: tuple[str, ...] = ()
    previous: tuple[str, ...] | None = None
    handoffs: list[tuple[datetime, tuple[str, ...]]] = []
    t = BEGIN
    edit_times = sorted(BEGIN + timedelta(minutes=m * 3) for m in edits)
    while t < END:
        step = service.plan(segments, previous, t, horizon)
        if step.on_call:
            group = step.on_call
        assert step.next_at > t
        assert group == rota.on_call(segments, t) or not rota.on_call(segments, t)
        handoffs.append((t, group))
        previous, t = step.on_call, step.next_at
        while edit_times and edit_times[0] < t:  # a hand edit, then the drift check puts the schedule back
            edit_times.pop(0)
            group = previous or group
    for u in times:
        since = [g for when, g in handoffs if when <= u][-1]
        now = rota.on_call(segments, u)
        assert not now or since == now, (u, since, now)


# -- replicas --------------------------------------------------------------------------------------------
def test_two_replicas_hand_over_once(tmp_path: Path, database_url: str) -> None:
    layer = {"people": ["U0ALICE", "U0KIM"], "shift": "daily", "start": "2026-11-28"}
    (tmp_path / "oncall.yaml").write_text(yaml.safe_dump({"schedules": {"primary": {
        "usergroup": "@oncall", "layers": [layer]}}}))
    playbook = load_playbook(tmp_path)
    engine = make_engine(database_url)
    upgrade(engine)
    clock = FakeClock(datetime(2026, 11, 28, 9, 30, tzinfo=UTC))
    directory = StaticDirectory({"@oncall": {"U0ALICE"}})
    replicas = [OncallTimers(UnitOfWork(engine, playbook, clock, directory), directory) for _ in range(2)]
    for replica in replicas:
        replica.run_due()
    clock.advance(timedelta(days=1))
    gate = threading.Barrier(2)

    def tick(replica: OncallTimers) -> None:
        gate.wait()
        replica.run_due()

    threads = [threading.Thread(target=tick, args=(r,)) for r in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(engine) as session:
        rows = session.exec(select(OutboundMessage).order_by(col(OutboundMessage.id))).all()
    told = sorted(r.channel for r in rows if r.purpose == "oncall_handoff")
    updates = [r.args for r in rows if r.method == "usergroups.users.update"]
    assert told == ["U0ALICE", "U0KIM"]
    assert updates == ['{"usergroup": "SONCALL", "users": "U0ALICE"}', '{"usergroup": "SONCALL", "users": "U0KIM"}']

    # An override (the state row locked while its handoff is re-planned) hands over at the next tick.
    work = UnitOfWork(engine, playbook, clock, directory)
    answer = work(lambda ctx: service.override(ctx, cmd.Override("U0LEO", None, timedelta(hours=1), None), "U0KIM"))
    assert "<@U0LEO> is on call for *primary*" in answer
    replicas[1].run_due()
    with Session(engine) as session:
        last = session.exec(select(OutboundMessage).where(OutboundMessage.method == "usergroups.users.update")
                            .order_by(col(OutboundMessage.id).desc())).first()
    assert last is not None and last.args == '{"usergroup": "SONCALL", "users": "U0LEO"}'
    engine.dispose()
