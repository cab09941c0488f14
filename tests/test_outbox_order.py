"""A channel's calls go out in order even with two deliverers (a kick and the scheduler tick, or
two replicas): while one holds a call in flight, the other leaves that channel alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from bot.slack import outbox
from storage.db import session_scope
from storage.models import OutboundMessage
from tests.support.bot import running_bot
from tests.support.clock import FakeClock

pytestmark = pytest.mark.kind("e2e")


def test_a_call_in_flight_elsewhere_holds_back_its_channel_only(tmp_path: Path, database_url: str) -> None:
    with running_bot(tmp_path, database_url, FakeClock()) as bot:
        with session_scope(bot.rt.engine) as session:
            rows = [outbox.post(session, bot.clock(), "C0GENERAL", f"message {n}") for n in range(1, 4)]
            outbox.post(session, bot.clock(), "C0PLATFORM", "elsewhere")
            session.flush()
            first = rows[0].id
        with session_scope(bot.rt.engine) as session:  # another deliverer claimed message 1 and is sending it
            session.exec(update(OutboundMessage).where(col(OutboundMessage.id) == first)  # type: ignore[call-overload]
                         .values(state="sending", claimed_until=bot.clock() + timedelta(seconds=60)))
        bot.rt.delivery.deliver_due()
        assert [t for t in bot.texts("C0GENERAL") if t.startswith("message")] == []
        assert "elsewhere" in bot.texts("C0PLATFORM")
        with session_scope(bot.rt.engine) as session:  # it finished (or its claim ran out)
            session.exec(update(OutboundMessage).where(col(OutboundMessage.id) == first)  # type: ignore[call-overload]
                         .values(state="pending", claimed_until=None))
        bot.settle()
        assert [t for t in bot.texts("C0GENERAL") if t.startswith("message")] == ["message 1", "message 2",
                                                                                   "message 3"]
