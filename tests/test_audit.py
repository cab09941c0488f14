"""`opsbot audit`'s listing reads as English: who approved and who denied each run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.executor.audit import report
from storage.db import make_engine
from storage.migrate import upgrade
from storage.runs import Approval, Run

pytestmark = pytest.mark.kind("unit")


def test_each_decision_reads_as_a_past_participle(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/audit.db")
    upgrade(engine)
    at = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    with Session(engine) as session:
        session.add(Run(id=1, action="backup.restore", params="{}", risk="critical", approvals_needed=2,
                        requested_by="U0ALICE", requested_in="C0OPS", source="command", status="denied",
                        plan="[]", requested_at=at))
        session.flush()
        session.add(Approval(run_id=1, user_id="U0BOB", decision="approve", at=at))
        session.add(Approval(run_id=1, user_id="U0DAVE", decision="deny", at=at))
        session.commit()
    listing = report(engine)
    engine.dispose()
    assert "approved by U0BOB at 09:15:00" in listing and "denied by U0DAVE at 09:15:00" in listing
    assert "denyd" not in listing
