"""What a unit of work changed reaches its observers after the commit, and only then."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from bot.committed import Changed
from bot.refusal import Refusal
from bot.work import Ctx, UnitOfWork
from playbooks.loader import load_playbook
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Incident

pytestmark = pytest.mark.kind("unit")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def work(tmp_path: Path) -> UnitOfWork:
    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    upgrade(engine)
    return UnitOfWork(engine, load_playbook(None), lambda: NOW, directory=None)  # type: ignore[arg-type]


def declare(ctx: Ctx) -> int:
    incident = Incident(title="t", severity="P1", phase="detect", declared_by="U0ALICE", declared_at=NOW)
    ctx.session.add(incident)
    ctx.session.flush()
    assert incident.id is not None
    return incident.id


def test_rows_and_bulk_statements_are_told_after_the_commit(work: UnitOfWork) -> None:
    seen: list[tuple[Changed, bool]] = []

    def observe(changed: Changed) -> None:
        with Session(work.engine) as other:  # a second connection sees the commit already
            seen.append((changed, other.get(Incident, 1) is not None))

    work.observers.append(observe)
    incident_id = work(declare)
    (added, committed), = seen
    assert committed and added.tables == {"incident"} and added.rows["incident"][0].id == incident_id

    work(lambda ctx: ctx.session.exec(update(Incident).where(col(Incident.id) == incident_id)  # type: ignore[call-overload]
                                      .values(phase="contain")))
    assert seen[-1][0].bulk == {"incident"} and not seen[-1][0].rows
    work(lambda ctx: ctx.session.get(Incident, incident_id))  # a read changes nothing: nobody is told
    assert len(seen) == 2


def test_a_refused_flow_tells_nobody_and_a_failing_observer_fails_no_commit(work: UnitOfWork) -> None:
    seen: list[Changed] = []
    work.observers += [seen.append, lambda changed: 1 / 0]

    def refused(ctx: Ctx) -> None:
        declare(ctx)
        raise Refusal("no")

    with pytest.raises(Refusal):
        work(refused)
    assert seen == []
    assert work(declare) == 1  # the observer's ZeroDivisionError is logged, the work's answer stands
    assert len(seen) == 1
