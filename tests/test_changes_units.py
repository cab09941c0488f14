"""Change management without Slack: CR numbers under concurrent submissions and reminders claimed
by several ticks at once on real PostgreSQL, the request form's parser, and changes.yaml checks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.changes import flows, service
from bot.changes.forms import ChangeForm, parse_form
from bot.changes.reminders import ChangeReminders
from bot.refusal import Refusal
from bot.work import UnitOfWork
from playbooks.loader import PACK_DIR, PlaybookError, load_playbook
from storage.changes import ChangeEvent, ChangeRequest
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import OutboundMessage
from tests.support.clock import FakeClock
from tests.support.directory import StaticDirectory

pytestmark = pytest.mark.kind("unit")

PLAYBOOK = load_playbook()


def Members() -> StaticDirectory:  # noqa: N802
    """A directory whose groups are as the sandbox seeds them."""
    return StaticDirectory({"@team-leads": {"U0DAVE"}, "@platform-ops-lead": {"U0BOB"}})


def a_form(category: str = "normal", approver: str | None = None) -> ChangeForm:
    return ChangeForm(category=category, priority="High", description="Upgrade PostgreSQL", systems="db",
                      user_impact="None", downtime=False, downtime_duration="", risk="Medium",
                      implementation_plan="1\n2", rollback_plan="restore", testing=(), named_approver=approver)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def in_threads(count: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001  (handed to the test thread)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def test_concurrent_submissions_get_unique_consecutive_numbers_on_postgresql(pg: Engine) -> None:
    work = UnitOfWork(pg, PLAYBOOK, FakeClock(), Members())
    count = 24  # more than the engine's pool (10 + 10 overflow waits, the rest race)
    numbers = in_threads(count, lambda i: flows.submit(work, a_form(), f"U0USER{i}", f"view:{i}")[0])
    assert sorted(numbers) == [f"CR-2026-{n:04d}" for n in range(1, count + 1)]
    with Session(pg) as session:
        rows = session.exec(select(ChangeRequest)).all()
    assert len(rows) == count and len({r.number for r in rows}) == count


def test_a_double_submission_racing_itself_is_one_request(pg: Engine) -> None:
    work = UnitOfWork(pg, PLAYBOOK, FakeClock(), Members())
    results = in_threads(6, lambda _i: flows.submit(work, a_form(), "U0ALICE", "view:V1"))
    assert {number for number, _ in results} == {"CR-2026-0001"}
    assert sum(created for _, created in results) == 1
    # the failed attempts gave their numbers back: the next request is 0002
    assert flows.submit(work, a_form(), "U0ALICE", "view:V2")[0] == "CR-2026-0002"


def test_numbers_restart_each_year(pg: Engine) -> None:
    clock = FakeClock(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    work = UnitOfWork(pg, PLAYBOOK, clock, Members())
    assert flows.submit(work, a_form(), "U0ALICE", None)[0] == "CR-2026-0001"
    clock.advance(timedelta(minutes=2))
    assert flows.submit(work, a_form(), "U0ALICE", None)[0] == "CR-2027-0001"
    assert flows.submit(work, a_form(), "U0ALICE", None)[0] == "CR-2027-0002"


def test_an_owed_reminder_goes_out_once_when_ticks_race(pg: Engine) -> None:
    clock = FakeClock()
    work = UnitOfWork(pg, PLAYBOOK, clock, Members())
    number, _ = flows.submit(work, a_form("emergency", approver="U0BOB"), "U0ALICE", None)
    reminders = ChangeReminders(work)
    assert reminders.run_due() == 0  # not due yet
    for interval in (1, 2):
        clock.advance(timedelta(hours=1))
        sent = in_threads(8, lambda _i: reminders.run_due())
        assert sum(sent) == 1, sent
        with Session(pg) as session:
            dms = session.exec(select(OutboundMessage).where(OutboundMessage.purpose == "change_reminder_dm")).all()
            assert len(dms) == 1 + interval  # the notice at request time, then one per interval
    flows.by_number(work, number, lambda ctx, cr: service.approve(ctx, cr, "U0BOB"))
    clock.advance(timedelta(hours=5))
    assert reminders.run_due() == 0
    with Session(pg) as session:
        kinds = [e.kind for e in session.exec(select(ChangeEvent).order_by(col(ChangeEvent.id))).all()]
    assert kinds == ["requested", "approval_owed", "reminder", "reminder", "approved"]


def test_approval_clicks_racing_approve_once(pg: Engine) -> None:
    work = UnitOfWork(pg, PLAYBOOK, FakeClock(), Members())
    number, _ = flows.submit(work, a_form(), "U0ALICE", None)

    def click(_i: int) -> str:
        try:
            return flows.by_number(work, number, lambda ctx, cr: service.approve(ctx, cr, "U0DAVE"))
        except Refusal as exc:
            return str(exc)

    answers = in_threads(6, click)
    assert sum(a.startswith("You approved") for a in answers) == 1, answers
    with Session(pg) as session:
        assert len(session.exec(select(ChangeEvent).where(ChangeEvent.kind == "approved")).all()) == 1


# -- the form ----------------------------------------------------------------------------------------
_text = st.one_of(st.none(), st.text(max_size=40), st.integers(), st.lists(st.text(max_size=5), max_size=2))
_entry = st.one_of(st.none(), st.text(max_size=5), st.dictionaries(
    st.sampled_from(["value", "selected_option", "selected_options", "selected_user"]),
    st.one_of(_text, st.dictionaries(st.sampled_from(["value", "text"]), _text, max_size=2),
              st.lists(st.dictionaries(st.just("value"), _text), max_size=3)), max_size=3))
_BLOCKS = ["category", "priority", "description", "systems", "user_impact", "downtime", "downtime_duration",
           "risk", "implementation_plan", "rollback_plan", "testing", "approver"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_BLOCKS), st.one_of(_entry, st.dictionaries(st.just("value"), _entry)),
                       max_size=12))
def test_any_form_state_gives_a_form_or_field_errors_never_an_exception(values: dict[str, Any]) -> None:
    result = parse_form(values, PLAYBOOK.changes, "U0ALICE")
    assert isinstance(result, ChangeForm) or (isinstance(result, dict) and result
                                               and set(result) <= set(_BLOCKS))


def valid_values(**overrides: Any) -> dict[str, Any]:
    choice = {"category": "normal", "priority": "Low", "user_impact": "None", "downtime": "no", "risk": "Low"}
    text = {"description": "d", "systems": "s", "implementation_plan": "p", "rollback_plan": "r"}
    values = {**{k: {"value": {"selected_option": {"value": v}}} for k, v in choice.items()},
              **{k: {"value": {"value": v}} for k, v in text.items()}}
    values.update(overrides)
    return values


def test_form_fields() -> None:
    form = parse_form(valid_values(testing={"value": {"selected_options": [{"value": "Staging validation"},
                                                                           {"value": "Made up"}]}}),
                      PLAYBOOK.changes, "U0ALICE")
    assert isinstance(form, ChangeForm) and form.testing == ("Staging validation",) and form.named_approver is None
    assert parse_form(valid_values(downtime={"value": {"selected_option": {"value": "no"}}},
                                   downtime_duration={"value": {"value": "30m"}}),
                      PLAYBOOK.changes, "U0ALICE") == {
        "downtime_duration": "No downtime was chosen; leave the duration empty or choose Yes."}
    long = parse_form(valid_values(description={"value": {"value": "x" * 3000}}), PLAYBOOK.changes, "U0ALICE")
    assert isinstance(long, dict) and "under 2900" in long["description"]
    # a named approver only matters for emergency changes
    normal = parse_form(valid_values(approver={"value": {"selected_user": "U0BOB"}}), PLAYBOOK.changes, "U0ALICE")
    assert isinstance(normal, ChangeForm) and normal.named_approver is None


# -- changes.yaml ------------------------------------------------------------------------------------
def override(tmp_path: Path, change: Any) -> list[tuple[str, str, str]]:
    doc = yaml.safe_load((PACK_DIR / "changes.yaml").read_text())
    change(doc)
    (tmp_path / "changes.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(PlaybookError) as caught:
        load_playbook(tmp_path)
    return [(Path(p.file).name, p.key, p.message) for p in caught.value.problems]


def test_bundled_changes_follow_the_seed() -> None:
    changes = PLAYBOOK.changes
    assert [c.name for c in changes.categories.values()] == ["Standard", "Normal", "Emergency"]
    assert changes.category("normal").lead_time == timedelta(hours=24)
    assert changes.category("normal").approvers == ("@team-leads",)
    assert [i.name for i in changes.approvals] == ["Technical Lead", "Security Review", "Platform Ops Lead"]
    assert changes.testing[0] == "Unit tests pass" and changes.channel == "#platform-ops"


def test_changes_yaml_mistakes_name_the_file_and_key(tmp_path: Path) -> None:
    [(file, key, message)] = override(tmp_path, lambda d: d["categories"]["normal"].update(approvers=[]))
    assert file == "changes.yaml" and key.startswith("categories.normal") and "needs at least one approver" in message
    [(_, key, message)] = override(tmp_path, lambda d: d["categories"]["emergency"].pop("remind_every"))
    assert key.startswith("categories.emergency") and "remind_every" in message
    [(_, key, message)] = override(tmp_path, lambda d: d["categories"]["normal"].update(lead_time="a day"))
    assert key == "categories.normal.lead_time" and "not a duration" in message
    [(_, key, message)] = override(tmp_path, lambda d: d["categories"].pop("standard"))
    assert key == "categories" and "exactly standard, normal, emergency" in message
    problems = override(tmp_path, lambda d: d["approvals"][1].update(who=["security team"]))
    assert problems[0][:2] == ("changes.yaml", "approvals.security_review.who[0]")
    assert "is not a target" in problems[0][2]
