"""The outbox: Slack calls recorded in the same transaction as the change they report.

Services enqueue; delivery happens after commit and again from the scheduler tick for
anything Slack refused to take (rate limits, outages). Each row is claimed with a
compare-and-set, so two bot processes never send the same message twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Delete, delete, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from bot import claimant
from bot.clock import Clock
from bot.slack.gateway import SlackGateway, SlackRejected, SlackUnavailable
from storage.db import session_scope
from storage.models import OutboundMessage

log = structlog.get_logger(__name__)
QUEUED = "outbox_queued"  # session.info flag: this unit of work has Slack calls to deliver
CLAIM_FOR = timedelta(seconds=60)
"""Longer than one Slack call can take (``bot.slack.gateway.CALL_BOUND``), so a live sender's claim
never runs out under it; a crashed sender's claim is taken back at once when its host can tell
(``bot.claimant``), otherwise when it runs out."""
# Refusals that mean the call's purpose is already met.
_ALREADY_DONE = {"conversations.invite": {"already_in_channel", "cant_invite_self"}, "pins.add": {"already_pinned"}}
MAX_BACKOFF = timedelta(minutes=5)
CONTENDED_RETRIES = 50
CONTENDED_PAUSE = 0.1  # seconds
KEEP_SENT = timedelta(days=7)  # delivered calls are kept a while for troubleshooting, then dropped
PRUNE_EVERY = timedelta(minutes=5)
PRUNE_BATCH, PRUNE_BATCHES = 1000, 20
PENDING, SENDING, SENT = "pending", "sending", "sent"


def due(state: str, now: datetime, limit: int) -> Select:
    """The oldest rows of ``state`` that are due: pending ones whose next attempt has come, sending
    ones whose claim ran out (a deliverer died). Read along ``ix_outbound_state_id``, so the cost
    follows the rows waiting, not the table's history."""
    moment = (col(OutboundMessage.next_attempt_at) <= now if state == PENDING
              else col(OutboundMessage.claimed_until) < now)
    return (select(OutboundMessage).where(col(OutboundMessage.state) == state).where(moment)
            .order_by(col(OutboundMessage.id)).limit(limit))


def prune_batch(cutoff: datetime) -> Delete:
    """One batch of rows sent before ``cutoff``, found along ``ix_outbound_sent``."""
    old = (select(OutboundMessage.id).where(col(OutboundMessage.state) == SENT)
           .where(col(OutboundMessage.sent_at) < cutoff).limit(PRUNE_BATCH))
    return delete(OutboundMessage).where(col(OutboundMessage.id).in_(old.scalar_subquery()))


def enqueue(session: Session, now: datetime, method: str, args: dict[str, Any], *,
            incident_id: int | None = None, purpose: str = "") -> OutboundMessage:
    row = OutboundMessage(
        method=method, channel=str(args.get("channel", "")), args=json.dumps(args),
        incident_id=incident_id, purpose=purpose, created_at=now, next_attempt_at=now,
    )
    session.add(row)
    session.info[QUEUED] = True
    return row


def post(session: Session, now: datetime, channel: str, text: str, blocks: list[dict] | None = None, *,
         thread_ts: str | None = None, incident_id: int | None = None, purpose: str = "") -> OutboundMessage:
    args: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
    if blocks:
        args["blocks"] = blocks
    if thread_ts:
        args["thread_ts"] = thread_ts
    return enqueue(session, now, "chat.postMessage", args, incident_id=incident_id, purpose=purpose)


def reply(session: Session, now: datetime, anchor: OutboundMessage, text: str, blocks: list[dict] | None = None,
          *, purpose: str = "") -> OutboundMessage:
    """A message in the thread of ``anchor``, a message still waiting to be sent or already sent."""
    row = post(session, now, anchor.channel, text, blocks, incident_id=anchor.incident_id, purpose=purpose)
    return _anchored(session, row, anchor, "thread_ts")


def edit(session: Session, now: datetime, anchor: OutboundMessage, text: str, blocks: list[dict] | None = None,
         *, purpose: str = "") -> OutboundMessage:
    """Replace ``anchor``'s text. Edits not yet sent are superseded, so a burst of progress costs
    Slack one call (chat.update is rate limited) and the last state always wins."""
    if anchor.id is not None:
        session.exec(  # type: ignore[call-overload]
            delete(OutboundMessage).where(col(OutboundMessage.anchor_id) == anchor.id)
            .where(col(OutboundMessage.anchor_field) == "ts").where(col(OutboundMessage.state) == "pending")
        )
    args: dict[str, Any] = {"channel": anchor.channel, "text": text, "blocks": blocks or []}
    row = enqueue(session, now, "chat.update", args, incident_id=anchor.incident_id, purpose=purpose)
    return _anchored(session, row, anchor, "ts")


def _anchored(session: Session, row: OutboundMessage, anchor: OutboundMessage, field: str) -> OutboundMessage:
    if anchor.id is None:
        session.flush()
    row.anchor_id, row.anchor_field = anchor.id, field
    return row


class OutboxDelivery:
    def __init__(self, engine: Engine, gateway: SlackGateway, clock: Clock, *, me: str | None = None) -> None:
        self._engine = engine
        self._gateway = gateway
        self._clock = clock
        self._stopped = threading.Event()
        self.me = me or claimant.this_process()
        self._lock = threading.Lock()
        self._sending: Counter[str] = Counter()  # channels with a call in flight in this process
        self._finished: dict[str, float] = {}  # channel -> when this process's last call on it ended
        self._next_prune: datetime | None = None

    def stop(self) -> None:
        """Shutdown: no call is started from now on (one in flight finishes); what is queued stays
        queued, in the database, for the next start."""
        self._stopped.set()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def deliver_due(self, limit: int = 200) -> int:
        """Send what is due, oldest first; a channel that failed waits so order is kept. Rows held
        back only because another thread of this process was busy with their channel are tried
        again shortly, so a kick is never lost to a concurrent one. A channel held by another
        process (a replica, or one that crashed mid-call) is left to the next tick: waiting here
        for it would hold up the pass for nothing (the stall of issue 13, docs/architecture.md)."""
        sent = 0
        for _ in range(CONTENDED_RETRIES):
            if self.stopped:
                break
            delivered, contended = self._pass(limit)
            sent += delivered
            if not contended:
                break
            time.sleep(CONTENDED_PAUSE)
        return sent

    def _pass(self, limit: int) -> tuple[int, bool]:
        now = self._clock()
        began = time.monotonic()
        with session_scope(self._engine) as session:
            self._take_back_orphans(session, now)
        with session_scope(self._engine) as session:
            rows = sorted([*session.exec(due(PENDING, now, limit)).all(),
                           *session.exec(due(SENDING, now, limit)).all()], key=lambda row: row.id or 0)[:limit]
            in_flight = set(session.exec(
                select(OutboundMessage.channel).where(col(OutboundMessage.state) == SENDING)
                .where(col(OutboundMessage.claimed_until) >= now)
            ).all())
            backing_off = dict(session.exec(  # type: ignore[call-overload]
                select(OutboundMessage.channel, func.min(OutboundMessage.id))
                .where(col(OutboundMessage.state) == "pending").where(col(OutboundMessage.next_attempt_at) > now)
                .group_by(col(OutboundMessage.channel))
            ).all())
        # a call waiting out its backoff (a Retry-After, an outage) holds back its channel's later calls
        rows = [row for row in rows if row.id is not None and row.id < backing_off.get(row.channel, row.id + 1)]
        return self._deliver(rows, in_flight, began)

    def _take_back_orphans(self, session: Session, now: datetime) -> None:
        """Calls claimed by a process that is gone (killed mid-call) are due again now rather than when
        the claim runs out: after a crash and restart, the channel's later messages (an overdue
        update) would otherwise wait up to ``CLAIM_FOR`` behind them. The call may have reached
        Slack before the crash; it is sent again (at least once, never lost)."""
        held = session.exec(
            select(OutboundMessage.id, OutboundMessage.claimed_by).where(col(OutboundMessage.state) == "sending")
            .where(col(OutboundMessage.claimed_until) >= now).where(col(OutboundMessage.claimed_by).is_not(None))
        ).all()
        for row_id, holder in held:
            if holder == self.me or not claimant.gone(holder):
                continue
            taken = session.exec(  # type: ignore[call-overload]
                update(OutboundMessage).where(col(OutboundMessage.id) == row_id)
                .where(col(OutboundMessage.state) == "sending").where(col(OutboundMessage.claimed_by) == holder)
                .values(state="pending", claimed_until=None, claimed_by=None)
            )
            if taken.rowcount:
                log.warning("slack_call_orphaned", outbound_id=row_id, claimed_by=holder)

    def prune_if_due(self) -> int:
        """``prune_sent`` every ``PRUNE_EVERY``, for the scheduler tick: the sent rows of a few minutes
        are not worth a statement per tick."""
        now = self._clock()
        if self._next_prune is not None and now < self._next_prune:
            return 0
        pruned, finished = self._prune(now)
        self._next_prune = now + (PRUNE_EVERY if finished else timedelta(0))
        return pruned

    def prune_sent(self) -> int:
        """Drop every call delivered more than ``KEEP_SENT`` ago; returns how many."""
        total = 0
        while True:
            pruned, finished = self._prune(self._clock())
            total += pruned
            if finished:
                return total

    def _prune(self, now: datetime) -> tuple[int, bool]:
        """At most ``PRUNE_BATCHES`` short transactions of ``PRUNE_BATCH`` rows each (delivery and
        requests never wait long for the table); whether nothing old is left."""
        total = 0
        for _ in range(PRUNE_BATCHES):
            with session_scope(self._engine) as session:
                pruned = session.exec(prune_batch(now - KEEP_SENT)).rowcount  # type: ignore[call-overload]
            total += pruned
            if pruned < PRUNE_BATCH:
                return total, True
        return total, False

    def _deliver(self, rows: Iterable[OutboundMessage], in_flight: set[str], began: float) -> tuple[int, bool]:
        """A channel with a call in flight elsewhere (another thread or replica) waits for it:
        otherwise a later edit of a message could overtake an earlier one. Returns (sent, whether
        any row waited for another thread of this process, which will be done shortly)."""
        blocked = set(in_flight)
        sent, contended = 0, False
        for row in rows:
            if self.stopped:
                break
            if row.channel in blocked:
                contended = contended or (row.channel in in_flight and self._held_here(row.channel, began))
                continue
            self._busy(row.channel, +1)
            claimed = self._claim(row)
            if not claimed:
                self._busy(row.channel, -1, sent=False)
                blocked.add(row.channel)
                in_flight.add(row.channel)
                contended = contended or self._held_here(row.channel, began)
                continue
            try:
                outcome = self._send(row)
            finally:
                self._busy(row.channel, -1)
            if outcome == "sent":
                sent += 1
            elif outcome == "down":
                break  # Slack is unreachable or failing: the rest waits for the next tick, not a timeout each
            else:
                blocked.add(row.channel)
        return sent, contended

    def _busy(self, channel: str, step: int, *, sent: bool = True) -> None:
        """Count this process's calls in flight per channel; registered before the claim, so a
        thread that sees the claim also sees that it is this process's."""
        with self._lock:
            self._sending[channel] += step
            if self._sending[channel] <= 0:
                del self._sending[channel]
            if step < 0 and sent:
                self._finished[channel] = time.monotonic()
                if len(self._finished) > 10_000:  # one entry per channel and DM: drop the old ones
                    recent = time.monotonic() - 60
                    self._finished = {c: t for c, t in self._finished.items() if t >= recent}

    def _held_here(self, channel: str, since: float) -> bool:
        """Whether this process has (or, since the pass began, had) a call in flight on ``channel``."""
        with self._lock:
            return channel in self._sending or self._finished.get(channel, 0.0) >= since

    def _claim(self, row: OutboundMessage) -> bool:
        now = self._clock()
        with session_scope(self._engine) as session:
            result = session.exec(  # type: ignore[call-overload]
                update(OutboundMessage)
                .where(col(OutboundMessage.id) == row.id)
                .where(col(OutboundMessage.state) == row.state)
                .where(col(OutboundMessage.attempts) == row.attempts)
                .where(col(OutboundMessage.claimed_until).is_(None) if row.claimed_until is None
                       else col(OutboundMessage.claimed_until) == row.claimed_until)
                .values(state="sending", claimed_until=now + CLAIM_FOR, claimed_by=self.me)
            )
            return result.rowcount == 1

    def _send(self, row: OutboundMessage) -> str:
        """"sent" (or settled for good), "held" (the channel waits: its order is kept) or "down"
        (Slack is unreachable or failing as a whole: the pass ends)."""
        args = json.loads(row.args)
        now = self._clock()
        values: dict[str, Any]
        if row.anchor_id is not None:
            anchor_ts = self._anchor_ts(row)
            if anchor_ts is None:
                return "held"
            args[row.anchor_field or "thread_ts"] = anchor_ts
        try:
            if "channel" in args:
                args["channel"] = self._gateway.channel_id(args["channel"])
            data = self._gateway.call(row.method, args)
            values = {"state": "sent", "sent_at": now, "result_ts": data.get("ts"), "last_error": None}
            outcome = "sent"
        except SlackUnavailable as exc:
            backoff = max(min(MAX_BACKOFF, timedelta(seconds=2 ** min(row.attempts, 8))),
                          timedelta(seconds=exc.retry_after))
            values = {"state": "pending", "next_attempt_at": now + backoff, "last_error": str(exc)}
            outcome = "down" if exc.outage else "held"
            log.warning("slack_call_deferred", method=row.method, outbound_id=row.id, error=str(exc))
        except SlackRejected as exc:
            if exc.error in _ALREADY_DONE.get(row.method, ()):
                values = {"state": "sent", "sent_at": now, "last_error": exc.error}
            else:
                values = {"state": "failed", "last_error": exc.error}
                log.error("slack_call_rejected", method=row.method, outbound_id=row.id, error=exc.error)
            outcome = "sent"  # a permanent refusal must not hold back the rest of the channel
        self._settle(row, attempts=row.attempts + 1, claimed_until=None, claimed_by=None, **values)
        return outcome

    def _anchor_ts(self, row: OutboundMessage) -> str | None:
        """The anchor message's ts; None while it is unsent (the row waits, in order) or when it
        could not be sent (the row fails with it)."""
        with session_scope(self._engine) as session:
            anchor = session.get(OutboundMessage, row.anchor_id)
        if anchor is not None and anchor.result_ts:
            return anchor.result_ts
        if anchor is None or anchor.state == "failed" or (anchor.state == "sent" and not anchor.result_ts):
            self._settle(row, state="failed", claimed_until=None, claimed_by=None,
                         last_error="the message it belongs to was not sent")
        else:
            self._settle(row, state="pending", claimed_until=None, claimed_by=None)
        return None

    def _settle(self, row: OutboundMessage, **values: Any) -> None:
        with session_scope(self._engine) as session:
            session.exec(  # type: ignore[call-overload]
                update(OutboundMessage).where(col(OutboundMessage.id) == row.id).values(**values)
            )
