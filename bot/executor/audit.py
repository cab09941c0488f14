"""``opsbot audit``: the executor's record as plain text for a terminal (or a ticket)."""

from __future__ import annotations

import json

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from storage.db import session_scope
from storage.runs import Approval, AuditRecord, Run


def report(engine: Engine, *, run_id: int | None = None, limit: int = 30) -> str:
    with session_scope(engine) as session:
        if run_id is not None:
            run = session.get(Run, run_id)
            if run is None:
                return f"no run #{run_id}"
            records = session.exec(select(AuditRecord).where(AuditRecord.run_id == run_id)
                                   .order_by(col(AuditRecord.id))).all()
            return _one(run, records)
        runs = session.exec(select(Run).order_by(col(Run.id).desc()).limit(limit)).all()
        approvals = session.exec(select(Approval).where(col(Approval.run_id).in_([r.id for r in runs]))).all()
        by_run: dict[int, list[Approval]] = {}
        for approval in approvals:
            by_run.setdefault(approval.run_id, []).append(approval)
        if not runs:
            return "no runs recorded"
        return "\n".join(_line(run, by_run.get(run.id or 0, [])) for run in runs)


DECIDED = {"approve": "approved", "deny": "denied"}
"""How each ``Approval.decision`` reads in the listing."""


def _line(run: Run, approvals: list[Approval]) -> str:
    decided = ", ".join(f"{DECIDED.get(a.decision, a.decision)} by {a.user_id} at {a.at:%H:%M:%S}"
                        for a in approvals) or "no approvals"
    params = " ".join(f"{k}={v}" for k, v in json.loads(run.params).items())
    return (f"#{run.id} {run.requested_at:%Y-%m-%d %H:%M:%S}Z {run.action} {params} [{run.status}] "
            f"asked by {run.requested_by} ({run.source}); {decided}"
            + (f"; {run.outcome}" if run.outcome else ""))


def _one(run: Run, records: list[AuditRecord]) -> str:
    lines = [f"run #{run.id} {run.action} [{run.status}] risk {run.risk}, asked by {run.requested_by} "
             f"in {run.requested_in} ({run.source})", "plan:"]
    lines += [f"  {i}. {title}" for i, title in enumerate(json.loads(run.plan), 1)]
    lines.append("trail:")
    for record in records:
        detail = ""
        if record.detail:
            data = json.loads(record.detail)
            data.pop("output", None)
            data.pop("plan", None)
            detail = " " + json.dumps(data) if data else ""
        lines.append(f"  {record.at:%Y-%m-%d %H:%M:%S}Z {record.event} by {record.actor}{detail}")
    if run.output:
        lines += ["output (redacted):", *("  " + line for line in run.output.rstrip().splitlines())]
    return "\n".join(lines)
