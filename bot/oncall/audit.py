"""``opsbot audit --oncall``: who changed which schedule, and what the bot did by itself (handoffs,
user groups put back), newest first, as plain text for a terminal or a ticket."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from storage.db import session_scope
from storage.oncall import OncallAudit


def report(engine: Engine, *, limit: int = 30) -> str:
    with session_scope(engine) as session:
        rows = session.exec(select(OncallAudit).order_by(col(OncallAudit.id).desc()).limit(limit)).all()
        if not rows:
            return "no on-call changes recorded"
        return "\n".join(f"{r.at:%Y-%m-%d %H:%M:%S}Z {r.schedule} {r.event} by {r.actor} {r.detail}" for r in rows)
