"""Reading a marked message the bot never saw, once, within Slack's history limit.

Since 2025 Slack allows apps outside its Marketplace one ``conversations.replies`` (and one
``conversations.history``) call a minute. Messages are kept as their events arrive
(``bot.timeline.capture``), so a read is owed only for a reaction on a message posted while the
bot was away. The scheduler tick makes at most one read per ``READ_EVERY`` across every replica
(``RateGate``, claimed by compare-and-set), and a read row is claimed the same way, so each
message is read once; ``conversations.replies`` finds thread replies as well as top-level
messages.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import insert, update
from sqlmodel import col, select

from bot.slack.gateway import SlackGateway, SlackRejected, SlackUnavailable
from bot.timeline import capture
from bot.timeline.capture import Captured, SlackMessage
from bot.work import Ctx, UnitOfWork
from storage.timeline import MISSING, PENDING, HistoryRead, RateGate

log = structlog.get_logger(__name__)
METHOD = "conversations.replies"
READ_EVERY = timedelta(minutes=1)
CLAIM_FOR = timedelta(minutes=5)
MAX_ATTEMPTS = 5


class HistoryReads:
    def __init__(self, work: UnitOfWork, gateway: SlackGateway) -> None:
        self._work = work
        self._gateway = gateway

    def run_due(self) -> int:
        """Make the one read the limit allows now, if any is owed; returns how many were made."""
        owed = self._work(lambda ctx: ctx.session.exec(
            select(HistoryRead).where(HistoryRead.state == PENDING).where(col(HistoryRead.due_at) <= ctx.now)
            .order_by(col(HistoryRead.id)).limit(1)).first())
        if owed is None or not self._work(_open_gate, on_conflict=lambda: False):
            return 0
        if not self._work(lambda ctx: _claim(ctx, owed)):
            return 0
        try:
            message = self._read(owed.channel_id, owed.ts)
        except SlackUnavailable as exc:
            error = str(exc)
            self._work(lambda ctx: _later(ctx, owed, error))
            return 1
        except SlackRejected as exc:  # the channel is gone or the bot was removed: nothing to read, ever
            log.warning("history_read_refused", channel=owed.channel_id, error=exc.error)
            message = None
        captured = self._work(lambda ctx: capture.found_in_history(ctx, message, owed.channel_id, owed.ts))
        for each in captured:
            self.link(each)
        return 1

    def link(self, captured: Captured) -> None:
        permalink = self._gateway.permalink(captured.channel, captured.ts)
        if permalink:
            self._work(lambda ctx: capture.set_permalink(ctx, captured, permalink))

    def _read(self, channel: str, ts: str) -> SlackMessage | None:
        data = self._gateway.call(METHOD, {"channel": channel, "ts": ts, "oldest": ts, "latest": ts,
                                           "inclusive": True, "limit": 2})
        for found in data.get("messages") or []:
            if isinstance(found, dict) and found.get("ts") == ts:
                return SlackMessage(channel=channel, ts=ts, user=str(found.get("user") or found.get("bot_id") or ""),
                                    text=str(found.get("text") or ""), thread_ts=found.get("thread_ts"))
        return None


def _open_gate(ctx: Ctx) -> bool:
    """The right to call ``METHOD`` now, taken from every other replica for ``READ_EVERY``."""
    gate = ctx.session.get(RateGate, METHOD)
    if gate is None:
        ctx.session.execute(insert(RateGate).values(name=METHOD, next_at=ctx.now + READ_EVERY))
        return True
    taken = ctx.session.exec(  # type: ignore[call-overload]
        update(RateGate).where(col(RateGate.name) == METHOD).where(col(RateGate.next_at) == gate.next_at)
        .where(col(RateGate.next_at) <= ctx.now).values(next_at=ctx.now + READ_EVERY)
        .execution_options(synchronize_session=False))
    return bool(taken.rowcount == 1)


def _claim(ctx: Ctx, owed: HistoryRead) -> bool:
    claimed = ctx.session.exec(  # type: ignore[call-overload]
        update(HistoryRead).where(col(HistoryRead.id) == owed.id).where(col(HistoryRead.state) == PENDING)
        .where(col(HistoryRead.due_at) == owed.due_at)
        .values(due_at=ctx.now + CLAIM_FOR, attempts=owed.attempts + 1)
        .execution_options(synchronize_session=False))
    return bool(claimed.rowcount == 1)


def _later(ctx: Ctx, owed: HistoryRead, error: str) -> None:
    row = ctx.session.get(HistoryRead, owed.id)
    if row is None or row.state != PENDING:
        return
    row.last_error = error
    if row.attempts >= MAX_ATTEMPTS:
        row.state, row.due_at = MISSING, None
    else:
        row.due_at = ctx.now + READ_EVERY * (2 ** row.attempts)
