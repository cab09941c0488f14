"""Maintenance windows' timers with an injected clock, on SQLite and PostgreSQL: each notice once
across a restart and with two replicas, moves re-time and cancels drop what is pending, late
windows skip superseded notices, reminders repeat only while items are open, standing windows."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.refusal import Refusal
from bot.windows import service
from bot.windows.forms import WindowForm
from bot.windows.standing import occurrences
from bot.windows.timers import WindowTimers
from bot.work import Ctx, UnitOfWork
from playbooks.loader import load_playbook
from playbooks.models import Playbook
from storage.db import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import OutboundMessage
from storage.windows import CANCELLED, DONE, DROPPED, FIRED, PENDING, MaintenanceTimer, MaintenanceWindow
from tests.support.clock import FakeClock
from tests.support.directory import StaticDirectory

pytestmark = pytest.mark.kind("unit")

START = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)  # a Wednesday: no standing window that day


def without_standing(playbook: Playbook) -> Playbook:
    return playbook.model_copy(update={"windows": playbook.windows.model_copy(update={"standing": ()})})


@pytest.fixture
def playbook() -> Playbook:
    return without_standing(load_playbook())


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def schedule(engine: Engine, playbook: Playbook, clock: FakeClock, start: datetime = START,
             duration: timedelta = timedelta(hours=1)) -> int:
    form = WindowForm(starts_at=start, duration=duration, title="Upgrade PostgreSQL",
                      activities=("Upgrade to 16.4", "Vacuum"), expected_impact="30 minutes downtime",
                      services=("postgres", "backend"))
    with session_scope(engine) as session:
        window, created = service.schedule(Ctx(session, clock(), playbook, StaticDirectory()), form, "U0ALICE", None)
        assert created and window.id is not None
        return window.id


def sent(engine: Engine, purpose: str) -> list[OutboundMessage]:
    with Session(engine) as session:
        return list(session.exec(select(OutboundMessage).where(OutboundMessage.purpose == purpose)
                                 .order_by(col(OutboundMessage.id))).all())


def timers(engine: Engine, window_id: int) -> dict[str, MaintenanceTimer]:
    with Session(engine) as session:
        return {t.kind: t for t in session.exec(select(MaintenanceTimer)
                                                .where(MaintenanceTimer.window_id == window_id)).all()}


def at(clock: FakeClock, when: datetime) -> None:
    clock.advance(when - clock())


def test_notices_fire_once_across_a_restart_between_t24h_and_t2h(database_url: str, playbook: Playbook) -> None:
    clock = FakeClock()
    first = make_engine(database_url)
    upgrade(first)
    window_id = schedule(first, playbook, clock)
    timers_1 = WindowTimers(UnitOfWork(first, playbook, clock, StaticDirectory()))
    assert timers_1.run_due() == 0
    at(clock, START - timedelta(hours=24))
    assert timers_1.run_due() == 2  # the 24-hour notice and the T-24h checklist stage
    assert timers_1.run_due() == 0
    first.dispose()  # the bot stops…

    at(clock, START - timedelta(hours=2, minutes=-3))  # …and comes back after T-2h
    second = make_engine(database_url)
    upgrade(second)
    timers_2 = WindowTimers(UnitOfWork(second, playbook, clock, StaticDirectory()))
    fired = timers_2.run_due()
    assert timers_2.run_due() == 0
    notice_24h = sent(second, f"window:{window_id}:notice_24h")
    notice_2h = sent(second, f"window:{window_id}:notice_2h")
    assert len(notice_24h) == 1 and len(notice_2h) == 1  # no duplicate, no miss
    assert notice_24h[0].channel == "#general" and "Scheduled Maintenance" in json.loads(notice_24h[0].args)["text"]
    assert "Wednesday 02 December 2026 from 22:00 to 23:00 UTC" in json.loads(notice_24h[0].args)["text"]
    assert "Maintenance Starting in 2 Hours" in json.loads(notice_2h[0].args)["text"]
    state = timers(second, window_id)
    assert state["notice_2h"].state == FIRED and state["stage_T-2h"].state == FIRED
    assert fired == 3  # the 2-hour reminder, the T-2h stage and one (overdue) checklist reminder
    assert state["reminder"].state == PENDING and state["reminder"].due_at == clock() + timedelta(minutes=30)
    assert len(sent(second, f"window:{window_id}:header")) == 1  # one thread, opened at T-24h

    at(clock, START + timedelta(hours=1))
    timers_2.run_due()
    complete = sent(second, f"window:{window_id}:complete")
    assert len(complete) == 1 and "- Upgrade to 16.4\n- Vacuum" in json.loads(complete[0].args)["text"]
    with Session(second) as session:
        assert session.get(MaintenanceWindow, window_id).status == DONE  # type: ignore[union-attr]
    assert all(t.state != PENDING for t in timers(second, window_id).values())
    second.dispose()


def test_two_replicas_fire_each_notice_once(database_url: str, playbook: Playbook) -> None:
    clock = FakeClock()
    engines = [make_engine(database_url), make_engine(database_url)]
    upgrade(engines[0])
    window_id = schedule(engines[0], playbook, clock)
    replicas = [WindowTimers(UnitOfWork(engine, playbook, clock, StaticDirectory())) for engine in engines]
    at(clock, START - timedelta(minutes=30))  # everything up to T-30m is due at once
    barrier = threading.Barrier(4)
    counts: list[int] = []

    def run(replica: WindowTimers) -> None:
        barrier.wait()
        counts.append(replica.run_due())

    threads = [threading.Thread(target=run, args=(r,)) for r in replicas * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 3  # the 2-hour notice, the T-30m stage, one reminder: the earlier ones are superseded
    stages = [json.loads(m.args)["text"] for m in sent(engines[0], f"window:{window_id}")]
    assert len([t for t in stages if "is at T-30m" in t]) == 1 and not [t for t in stages if "is at T-2h" in t]
    assert len(sent(engines[0], f"window:{window_id}:notice_2h")) == 1
    assert len(sent(engines[0], f"window:{window_id}:header")) == 1
    for engine in engines:
        engine.dispose()


def test_a_late_window_sends_only_the_latest_notice_and_stage(db: Engine, playbook: Playbook) -> None:
    clock = FakeClock()
    window_id = schedule(db, playbook, clock, start=clock() + timedelta(hours=1))
    state = timers(db, window_id)
    assert state["notice_24h"].state == DROPPED and state["notice_2h"].state == PENDING
    assert state["stage_T-24h"].state == DROPPED and state["stage_T-2h"].state == PENDING
    assert state["stage_T-30m"].state == PENDING
    WindowTimers(UnitOfWork(db, playbook, clock, StaticDirectory())).run_due()
    assert len(sent(db, f"window:{window_id}:notice_2h")) == 1 and not sent(db, f"window:{window_id}:notice_24h")
    [stage] = [m for m in sent(db, f"window:{window_id}") if "is at T-2h" in json.loads(m.args)["text"]]
    assert "Send maintenance notification to users" in json.loads(stage.args)["text"]  # T-24h items still open


def test_move_retimes_pending_notices_and_tells_who_was_told(db: Engine, playbook: Playbook) -> None:
    clock = FakeClock()
    window_id = schedule(db, playbook, clock)
    later = START + timedelta(days=7)
    with session_scope(db) as session:  # nothing was announced yet: no notice of the move
        text = service.move(Ctx(session, clock(), playbook, StaticDirectory()), window_id, later, "U0BOB")
    assert "re-timed" in text and "notice of the new time" not in text
    state = timers(db, window_id)
    assert state["notice_24h"].due_at == later - timedelta(hours=24)
    assert state["notice_2h"].due_at == later - timedelta(hours=2)
    assert state["complete"].due_at == later + timedelta(hours=1)
    assert not sent(db, f"window:{window_id}:moved")

    runner = WindowTimers(UnitOfWork(db, playbook, clock, StaticDirectory()))
    at(clock, later - timedelta(hours=24))
    runner.run_due()
    new_start = later + timedelta(hours=1)  # an hour later, after the 24-hour notice went out
    with session_scope(db) as session:
        text = service.move(Ctx(session, clock(), playbook, StaticDirectory()), window_id, new_start, "U0BOB")
    assert "notice of the new time goes out" in text
    [moved] = sent(db, f"window:{window_id}:moved")
    assert ("announced for Wednesday 09 December 2026 at 22:00 UTC moves to Wednesday 09 December 2026 "
            "from 23:00 to 00:00 UTC") in json.loads(moved.args)["text"]
    state = timers(db, window_id)
    assert state["notice_2h"].due_at == new_start - timedelta(hours=2)
    assert state["notice_24h"].state == FIRED  # sent once; not sent again
    at(clock, new_start - timedelta(hours=2))
    runner.run_due()
    assert len(sent(db, f"window:{window_id}:notice_2h")) == 1 and len(sent(db, f"window:{window_id}:notice_24h")) == 1


def test_cancel_drops_pending_notices_and_announces_only_what_was_announced(db: Engine, playbook: Playbook) -> None:
    clock = FakeClock()
    quiet, told = schedule(db, playbook, clock), schedule(db, playbook, clock, start=START + timedelta(days=1))
    with session_scope(db) as session:
        service.cancel(Ctx(session, clock(), playbook, StaticDirectory()), quiet, "U0BOB")
    assert not sent(db, f"window:{quiet}:cancelled")
    at(clock, START + timedelta(hours=1))  # past the first window's times: nothing fires for it
    runner = WindowTimers(UnitOfWork(db, playbook, clock, StaticDirectory()))
    runner.run_due()
    assert not [m for m in sent(db, f"window:{quiet}:notice_24h") + sent(db, f"window:{quiet}:complete")]
    assert {t.state for t in timers(db, quiet).values()} == {DROPPED}
    assert len(sent(db, f"window:{told}:notice_24h")) == 1
    with session_scope(db) as session:
        text = service.cancel(Ctx(session, clock(), playbook, StaticDirectory()), told, "U0BOB")
    assert "cancellation notice goes out" in text
    [cancelled] = sent(db, f"window:{told}:cancelled")
    assert "will not take place" in json.loads(cancelled.args)["text"]
    with Session(db) as session:
        assert session.get(MaintenanceWindow, told).status == CANCELLED  # type: ignore[union-attr]
    with session_scope(db) as session, pytest.raises(Refusal, match="already cancelled"):
        service.cancel(Ctx(session, clock(), playbook, StaticDirectory()), told, "U0BOB")
    at(clock, START + timedelta(days=2))
    runner.run_due()
    assert not sent(db, f"window:{told}:notice_2h") and not sent(db, f"window:{told}:complete")


def test_reminders_repeat_while_due_items_are_open_and_stop_when_ticked(db: Engine, playbook: Playbook) -> None:
    clock = FakeClock()
    window_id = schedule(db, playbook, clock, start=clock() + timedelta(hours=25))
    runner = WindowTimers(UnitOfWork(db, playbook, clock, StaticDirectory()))
    clock.advance(timedelta(hours=1))
    runner.run_due()  # T-24h
    reminders = lambda: [m for m in sent(db, f"window:{window_id}") if "Reminder for" in json.loads(m.args)["text"]]  # noqa: E731
    for _ in range(3):
        clock.advance(timedelta(minutes=30))
        runner.run_due()
        runner.run_due()
    assert len(reminders()) == 3
    with session_scope(db) as session:
        ctx = Ctx(session, clock(), playbook, StaticDirectory())
        assert "already ticked by opsbot" in service.tick(ctx, window_id, "notify_users", "U0BOB")  # the notice
        for _stage, item in playbook.windows.items()[1:4]:  # the other T-24h items
            assert "Ticked" in service.tick(ctx, window_id, item.key, "U0CAROL")
        assert "already ticked by <@U0CAROL>" in service.tick(ctx, window_id, "status_page", "U0BOB")
    clock.advance(timedelta(minutes=30))
    runner.run_due()
    assert len(reminders()) == 3  # nothing open is due: no reminder, but the timer stays armed
    assert timers(db, window_id)["reminder"].state == PENDING


def test_standing_occurrences_fall_on_the_right_days() -> None:
    pack = load_playbook().windows
    daily, weekly, monthly = pack.standing
    after = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)  # a Saturday
    until = after + timedelta(days=40)
    assert list(occurrences(daily, pack.zone, after, until))[:2] == [
        datetime(2026, 11, 29, 2, 0, tzinfo=UTC), datetime(2026, 11, 30, 2, 0, tzinfo=UTC)]
    assert list(occurrences(weekly, pack.zone, after, until))[:3] == [
        datetime(2026, 11, 29, 22, 0, tzinfo=UTC), datetime(2026, 12, 6, 22, 0, tzinfo=UTC),
        datetime(2026, 12, 13, 22, 0, tzinfo=UTC)]
    assert list(occurrences(monthly, pack.zone, after, until)) == [
        datetime(2026, 12, 6, 22, 0, tzinfo=UTC), datetime(2027, 1, 3, 22, 0, tzinfo=UTC)]


def test_standing_windows_are_created_once_and_daily_ones_send_nothing(db: Engine) -> None:
    playbook = load_playbook()
    clock = FakeClock()
    replicas = [WindowTimers(UnitOfWork(db, playbook, clock, StaticDirectory())) for _ in range(2)]
    assert replicas[0].add_standing() == 8 + 1  # within 8 days: 8 daily windows and Sunday's weekly one
    assert replicas[1].add_standing() == 0
    clock.advance(timedelta(days=1))  # Sunday 6 December, the first of the month, comes within the horizon
    assert replicas[1].add_standing() == 3  # one more daily, the weekly and the monthly window
    with Session(db) as session:
        windows = session.exec(select(MaintenanceWindow).order_by(col(MaintenanceWindow.starts_at))).all()
        monthly = next(w for w in windows if w.standing_key == "monthly")
        assert (monthly.starts_at, monthly.ends_at) == (datetime(2026, 12, 6, 22, 0, tzinfo=UTC),
                                                        datetime(2026, 12, 7, 0, 0, tzinfo=UTC))
        assert json.loads(monthly.activities)[0] == "Security patches"
        daily = next(w for w in windows if w.standing_key == "daily")
    assert set(timers(db, daily.id)) == {"complete"}  # type: ignore[arg-type]
    assert "stage_T-30m" in timers(db, monthly.id)  # type: ignore[arg-type]
    with session_scope(db) as session:  # a moved occurrence is not created again at its old time
        service.move(Ctx(session, clock(), playbook, StaticDirectory()), monthly.id,  # type: ignore[arg-type]
                     monthly.starts_at + timedelta(hours=1), "U0BOB")
    assert replicas[0].add_standing() == 0


def test_timers_of_a_window_that_is_no_longer_scheduled_are_dropped_unsent(db: Engine, playbook: Playbook) -> None:
    clock = FakeClock()
    window_id = schedule(db, playbook, clock)
    with session_scope(db) as session:  # its status changed without its timers (not through cancel)
        window = session.get(MaintenanceWindow, window_id)
        assert window is not None
        window.status = DONE
    at(clock, START + timedelta(hours=2))
    assert WindowTimers(UnitOfWork(db, playbook, clock, StaticDirectory())).run_due() == 0
    assert {t.state for t in timers(db, window_id).values()} == {DROPPED}
    with Session(db) as session:
        assert session.exec(select(OutboundMessage)).all() == []
