"""The outbox: Slack calls recorded in the same transaction as the change they report.

Services enqueue; delivery happens after commit and again from the scheduler tick for
anything Slack refused to take (rate limits, outages). Each row is claimed with a
compare-and-set, so two bot processes never send the same message twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Delete, delete, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from bot.clock import Clock
from bot.slack.gateway import SlackGateway, SlackRejected, SlackUnavailable
from storage.db import session_scope
from storage.models import OutboundMessage

log = structlog.get_logger(__name__)
QUEUED = "outbox_queued"  # session.info flag: this unit of work has Slack calls to deliver
CLAIM_FOR = timedelta(seconds=60)
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
    def __init__(self, engine: Engine, gateway: SlackGateway, clock: Clock) -> None:
        self._engine = engine
        self._gateway = gateway
        self._clock = clock
        self._next_prune: datetime | None = None

    def deliver_due(self, limit: int = 200) -> int:
        """Send what is due, oldest first; a channel that failed waits so order is kept. Rows held
        back only because another deliverer was busy with their channel are tried again shortly,
        so a kick is never lost to a concurrent one."""
        sent = 0
        for _ in range(CONTENDED_RETRIES):
            delivered, contended = self._pass(limit)
            sent += delivered
            if not contended:
                break
            time.sleep(CONTENDED_PAUSE)
        return sent

    def _pass(self, limit: int) -> tuple[int, bool]:
        now = self._clock()
        with session_scope(self._engine) as session:
            rows = sorted([*session.exec(due(PENDING, now, limit)).all(),
                           *session.exec(due(SENDING, now, limit)).all()], key=lambda row: row.id or 0)[:limit]
            in_flight = set(session.exec(
                select(OutboundMessage.channel).where(col(OutboundMessage.state) == SENDING)
                .where(col(OutboundMessage.claimed_until) >= now)
            ).all())
        return self._deliver(rows, in_flight)

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

    def _deliver(self, rows: Iterable[OutboundMessage], in_flight: set[str]) -> tuple[int, bool]:
        """A channel with a call in flight elsewhere (another thread or replica) waits for it:
        otherwise a later edit of a message could overtake an earlier one. Returns (sent, whether
        any row waited for another deliverer)."""
        blocked = set(in_flight)
        sent, contended = 0, False
        for row in rows:
            if row.channel in blocked:
                contended = contended or row.channel in in_flight
                continue
            if not self._claim(row):
                blocked.add(row.channel)
                in_flight.add(row.channel)
                contended = True
                continue
            if self._send(row):
                sent += 1
            else:
                blocked.add(row.channel)
        return sent, contended

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
                .values(state="sending", claimed_until=now + CLAIM_FOR)
            )
            return result.rowcount == 1

    def _send(self, row: OutboundMessage) -> bool:
        args = json.loads(row.args)
        now = self._clock()
        values: dict[str, Any]
        if row.anchor_id is not None:
            anchor_ts = self._anchor_ts(row)
            if anchor_ts is None:
                return False
            args[row.anchor_field or "thread_ts"] = anchor_ts
        try:
            if "channel" in args:
                args["channel"] = self._gateway.channel_id(args["channel"])
            data = self._gateway.call(row.method, args)
            values = {"state": "sent", "sent_at": now, "result_ts": data.get("ts"), "last_error": None}
            ok = True
        except SlackUnavailable as exc:
            backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** min(row.attempts, 8)))
            values = {"state": "pending", "next_attempt_at": now + backoff, "last_error": str(exc)}
            ok = False
            log.warning("slack_call_deferred", method=row.method, outbound_id=row.id, error=str(exc))
        except SlackRejected as exc:
            if exc.error in _ALREADY_DONE.get(row.method, ()):
                values = {"state": "sent", "sent_at": now, "last_error": exc.error}
            else:
                values = {"state": "failed", "last_error": exc.error}
                log.error("slack_call_rejected", method=row.method, outbound_id=row.id, error=exc.error)
            ok = True  # a permanent refusal must not hold back the rest of the channel
        self._settle(row, attempts=row.attempts + 1, claimed_until=None, **values)
        return ok

    def _anchor_ts(self, row: OutboundMessage) -> str | None:
        """The anchor message's ts; None while it is unsent (the row waits, in order) or when it
        could not be sent (the row fails with it)."""
        with session_scope(self._engine) as session:
            anchor = session.get(OutboundMessage, row.anchor_id)
        if anchor is not None and anchor.result_ts:
            return anchor.result_ts
        if anchor is None or anchor.state == "failed" or (anchor.state == "sent" and not anchor.result_ts):
            self._settle(row, state="failed", claimed_until=None, last_error="the message it belongs to was not sent")
        else:
            self._settle(row, state="pending", claimed_until=None)
        return None

    def _settle(self, row: OutboundMessage, **values: Any) -> None:
        with session_scope(self._engine) as session:
            session.exec(  # type: ignore[call-overload]
                update(OutboundMessage).where(col(OutboundMessage.id) == row.id).values(**values)
            )
