"""The outbox as its history grows: sent calls are pruned in batches every few minutes (not every
tick), and the queries the tick runs (due rows, pruning, an edit's superseded rows, the status
page's incidents) are answered from an index on both databases, not by walking the table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot.slack import outbox
from bot.slack.gateway import SlackGateway, make_client
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Incident, OutboundMessage
from tests.support.clock import FakeClock

pytestmark = pytest.mark.kind("unit")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def unused_gateway() -> SlackGateway:
    """Pruning and planning never call Slack: a gateway to a closed port proves it."""
    return SlackGateway(make_client("xoxb-never-used", "http://127.0.0.1:9/api/"))


def sent_rows(count: int, sent_at: Any, state: str = "sent") -> list[dict[str, Any]]:
    return [dict(method="chat.postMessage", channel="C0GENERAL", args="{}", state=state, attempts=1,
                 created_at=sent_at, next_attempt_at=sent_at, sent_at=sent_at if state == "sent" else None)
            for _ in range(count)]


def count(engine: Engine, *where: Any) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(OutboundMessage).where(*where)).scalar_one()


def test_sent_calls_are_pruned_in_batches_every_few_minutes(engine: Engine) -> None:
    clock = FakeClock()
    now = clock()
    with Session(engine) as session:
        session.execute(insert(OutboundMessage), sent_rows(outbox.PRUNE_BATCH * 2 + 500, now - timedelta(days=8)))
        session.execute(insert(OutboundMessage), sent_rows(30, now - outbox.KEEP_SENT + timedelta(minutes=1)))
        session.execute(insert(OutboundMessage), sent_rows(5, now - timedelta(days=30), state="failed"))
        session.commit()
    delivery = outbox.OutboxDelivery(engine, unused_gateway(), clock)

    assert delivery.prune_if_due() == outbox.PRUNE_BATCH * 2 + 500  # three batches, one pass
    assert count(engine, col(OutboundMessage.state) == "sent") == 30  # a week is kept
    assert count(engine, col(OutboundMessage.state) == "failed") == 5  # failures stay for troubleshooting

    clock.advance(timedelta(minutes=2))  # the 30 are old now, but the next prune is minutes away
    assert delivery.prune_if_due() == 0
    assert count(engine, col(OutboundMessage.state) == "sent") == 30
    clock.advance(outbox.PRUNE_EVERY)
    assert delivery.prune_if_due() == 30


def test_a_backlog_larger_than_a_pass_is_pruned_on_the_next_ticks(engine: Engine) -> None:
    clock = FakeClock()
    backlog = outbox.PRUNE_BATCH * outbox.PRUNE_BATCHES + 10
    with Session(engine) as session:
        session.execute(insert(OutboundMessage), sent_rows(backlog, clock() - timedelta(days=8)))
        session.commit()
    delivery = outbox.OutboxDelivery(engine, unused_gateway(), clock)
    assert delivery.prune_if_due() == backlog - 10  # a pass is bounded
    assert delivery.prune_if_due() == 10  # and the next tick goes on at once
    assert delivery.prune_if_due() == 0


def plan(engine: Engine, statement: Any) -> str:
    """The database's plan for ``statement``; on PostgreSQL with sequential scans priced out, so a
    table this small still shows whether an index can answer it."""
    compiled = statement.compile(dialect=engine.dialect)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            params = tuple(compiled.params[name] for name in compiled.positiontup)
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all()
            return "\n".join(str(row[-1]) for row in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).all())


def test_the_ticks_queries_are_answered_from_indexes(engine: Engine) -> None:
    now = FakeClock()()
    with Session(engine) as session:
        session.execute(insert(OutboundMessage), sent_rows(200, now - timedelta(days=1)))
        session.commit()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE outbound_message")
    queries = {
        "pending": (outbox.due(outbox.PENDING, now, 200), "ix_outbound_"),
        "sending": (outbox.due(outbox.SENDING, now, 200), "ix_outbound_"),
        "prune": (outbox.prune_batch(now - outbox.KEEP_SENT), "ix_outbound_sent"),
        "superseded edits": (delete(OutboundMessage).where(col(OutboundMessage.anchor_id) == 1)
                             .where(col(OutboundMessage.state) == "pending"), "ix_outbound_"),
        "status page": (select(Incident.id).where(col(Incident.resolved_at) >= now), "ix_incident_resolved_at"),
    }
    for name, (statement, index) in queries.items():
        shown = plan(engine, statement)
        assert index in shown, f"{name}: {shown}"
        assert "SCAN outbound_message\n" not in shown + "\n" and "Seq Scan" not in shown, f"{name}: {shown}"
