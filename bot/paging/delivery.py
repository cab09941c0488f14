"""Sending pages, off the request path and off the tick (docs/architecture.md, "Events once, work
that waits elsewhere in the background"; worked by a ``bot.background.Background``).

Each send is a row with a due time. A process claims it by compare-and-set (the due time moves a
little ahead, ``CLAIM_FOR``), sends it outside any transaction, and then records the outcome: sent,
or failed and due again after a pause that doubles each time, until the pack's number of attempts
is spent. The first failure and the giving up are said in the incident channel. A process that dies
between its claim and its record leaves the send due again once the claim lapses, so a page is
never lost; that window (the server's answer to the commit) is the only one in which a send can go
out twice, a duplicate page being the lesser harm. A send whose page was acknowledged, or whose
incident was resolved, meanwhile is cancelled when claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import update
from sqlmodel import col, select

from bot.paging.links import LinkSigner
from bot.paging.senders import PageMessage, Senders, SendFailed
from bot.paging.service import KIND_NAMES, repeat_every
from bot.slack import outbox
from bot.work import Ctx, UnitOfWork
from playbooks.durations import format_duration
from storage.models import Incident
from storage.paging import CANCELLED, DUE, FAILED, SENT, Page, PageSend

log = structlog.get_logger(__name__)
CLAIM_FOR = timedelta(minutes=2)
BATCH = 50


@dataclass(frozen=True)
class Job:
    send_id: int
    kind: str
    address: str
    message: PageMessage


class PageDelivery:
    def __init__(self, work: UnitOfWork, senders: Senders, links: LinkSigner) -> None:
        self._work = work
        self._senders = senders
        self._links = links

    def run_due(self) -> int:
        """Send what is due; returns how many went out."""
        due = self._work(lambda ctx: ctx.session.exec(
            select(PageSend.id, PageSend.due_at).where(PageSend.state == DUE).where(col(PageSend.due_at) <= ctx.now)
            .order_by(col(PageSend.due_at), col(PageSend.id)).limit(BATCH)).all())
        sent = 0
        for send_id, due_at in due:
            job = self._work(lambda ctx, i=send_id, d=due_at: self._claim(ctx, i, d))
            if job is not None:
                sent += self._send(job)
        return sent

    def _claim(self, ctx: Ctx, send_id: int, due_at: datetime) -> Job | None:
        claimed = ctx.session.exec(  # type: ignore[call-overload]
            update(PageSend).where(col(PageSend.id) == send_id).where(col(PageSend.due_at) == due_at)
            .where(col(PageSend.state) == DUE).values(due_at=ctx.now + CLAIM_FOR)
            .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            return None
        send = ctx.session.get(PageSend, send_id)
        page = ctx.session.get(Page, send.page_id) if send else None
        incident = ctx.session.get(Incident, page.incident_id) if page else None
        if send is None or page is None or incident is None:
            return None
        if page.stopped_at is not None or incident.status != "open":
            send.state, send.due_at = CANCELLED, None
            return None
        severity = ctx.playbook.severity(incident.severity).label
        every = format_duration(repeat_every(ctx.playbook, page.level))
        text = (f"Escalation level {page.level}: {incident.ref} ({severity}) needs you. {page.reason}. "
                f"Join #{incident.channel_name or 'the incident channel'} in Slack. "
                f"Page {send.round}; it repeats every {every} until someone acknowledges.")
        url = self._links.url(page.id or 0, ctx.now + ctx.playbook.paging.link_valid_for)
        title = " ".join(f"{incident.ref} {severity}: {incident.title}".split())  # one line: a mail header
        message = PageMessage(title=ctx.redact(title)[:200],
                              text=ctx.redact(text), ack_url=url,
                              short=ctx.redact(f"Escalation level {page.level}, page {send.round}."))
        return Job(send_id, send.kind, send.address, message)

    def _send(self, job: Job) -> int:
        sender = self._senders.get(job.kind)
        try:
            if sender is None:
                raise SendFailed(self._senders.off.get(job.kind, f"{job.kind} paging is off here"))
            sender.send(job.address, job.message)
        except Exception as exc:  # SendFailed says what the server said; anything else, only its kind
            error = str(exc) if isinstance(exc, SendFailed) else f"{job.kind}: {type(exc).__name__}"
            log.warning("page_send_failed", send=job.send_id, kind=job.kind, error=error)
            self._work(lambda ctx: _failed(ctx, job.send_id, error))
            return 0
        self._work(lambda ctx: _sent(ctx, job.send_id))
        return 1


def _sent(ctx: Ctx, send_id: int) -> None:
    send = ctx.session.get(PageSend, send_id)
    if send is not None:
        send.state, send.due_at, send.sent_at, send.attempts = SENT, None, ctx.now, send.attempts + 1


def _failed(ctx: Ctx, send_id: int, error: str) -> None:
    send = ctx.session.get(PageSend, send_id)
    page = ctx.session.get(Page, send.page_id) if send else None
    incident = ctx.session.get(Incident, page.incident_id) if page else None
    if send is None or page is None or incident is None or send.state != DUE:
        return  # cancelled while it was being sent (acknowledged, resolved, the contact removed)
    retry = ctx.playbook.paging.retry
    send.attempts += 1
    send.error = error[:500]
    how = f"{KIND_NAMES.get(send.kind, send.kind)} ({send.address})"
    if send.attempts >= retry.attempts:
        send.state, send.due_at = FAILED, None
        said = (f":x: Paging <@{page.user_id}> by {how} failed {send.attempts} times; I gave up on page "
                f"{send.round} there: {error}")
    else:
        pause = min(retry.longest, retry.first * 2 ** (send.attempts - 1))
        send.due_at = ctx.now + pause
        if send.attempts > 1:
            return
        said = (f":warning: Paging <@{page.user_id}> by {how} failed: {error}. "
                f"Trying again in {format_duration(pause)} ({retry.attempts - 1} more tries at most).")
    if incident.channel_id:
        outbox.post(ctx.session, ctx.now, incident.channel_id, ctx.redact(said), incident_id=incident.id,
                    purpose="page_failed")
