"""The weekly report digest in the pack's reports channel (``settings.yaml``: ``reports_channel``,
``weekly_digest``), and its chart.

Each firing of the digest's cron is claimed by inserting its ``report_digest`` row (the unique fire
time is the claim; docs/architecture.md, "Timers are data"), in the same transaction that queues the
message in the outbox: a restart or a second replica never posts it twice, and a firing that fell
due while the bot was down (within ``GRACE``) is posted once, late. The chart is uploaded by the
post-mortem's upload (``SlackGateway.upload_file``: ``files.getUploadURLExternal`` +
``files.completeUploadExternal``) into the digest's thread once the message is sent, as background
work claimed by compare-and-set (``bot.background``).
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.executor.schedules import latest_fire_time
from bot.postmortems.publish import backoff
from bot.reports import queries, views
from bot.slack import outbox
from bot.slack.gateway import SlackGateway, SlackRejected, SlackUnavailable
from bot.work import Ctx, UnitOfWork
from storage.models import OutboundMessage
from storage.reports import DONE, FAILED, PENDING, SENDING, ReportDigest

log = structlog.get_logger(__name__)
PERIOD = timedelta(days=7)
GRACE = timedelta(days=1)
"""A digest missed while the bot was down is still posted within a day of its time."""
CLAIM_FOR = timedelta(minutes=2)


def post_due(ctx: Ctx) -> ReportDigest | None:
    """Claim the digest's latest firing and queue its message; None when nothing is due or another
    process (or an earlier tick) claimed it."""
    settings = ctx.playbook.settings
    if settings.reports_channel is None:
        return None
    fire_at = latest_fire_time(settings.weekly_digest, settings.zone, ctx.now, GRACE)
    if fire_at is None or ctx.session.exec(select(ReportDigest.id).where(ReportDigest.fire_at == fire_at)).first():
        return None  # (the insert below is the claim; this only spares a day of ticks a refused insert each)
    digest = ReportDigest(fire_at=fire_at, since=fire_at - PERIOD, until=fire_at, channel=settings.reports_channel,
                          created_at=ctx.now, next_attempt_at=ctx.now)
    try:
        with ctx.session.begin_nested():
            ctx.session.add(digest)
    except IntegrityError:
        return None
    report = queries.report(ctx.session, ctx.playbook, digest.since, digest.until)
    title = views.digest_title(report, settings.zone)
    message = outbox.post(ctx.session, ctx.now, digest.channel, f"{title}: {views.summary(report)}",
                          views.blocks(ctx.playbook, report, title), purpose="report_digest")
    ctx.session.flush()
    digest.message_id = message.id
    return digest


class DigestCharts:
    """Uploads each digest's chart once its message is in Slack."""

    def __init__(self, work: UnitOfWork, gateway: SlackGateway) -> None:
        self._work = work
        self._gateway = gateway

    def run_due(self) -> int:
        due = self._work(lambda ctx: ctx.session.exec(select(ReportDigest).where(
            ((col(ReportDigest.chart_state) == PENDING) & (col(ReportDigest.next_attempt_at) <= ctx.now))
            | ((col(ReportDigest.chart_state) == SENDING) & (col(ReportDigest.claimed_until) < ctx.now)))
            .order_by(col(ReportDigest.id))).all())
        made = 0
        for digest in due:
            thread = self._work(lambda ctx, d=digest: _thread(ctx, d))
            if thread is None or not self._work(lambda ctx, d=digest: _claim(ctx, d)):
                continue
            made += self._upload(digest, thread or None)
        return made

    def _upload(self, digest: ReportDigest, thread_ts: str | None) -> int:
        from bot.reports import chart  # matplotlib takes about a second to import: only when a chart is drawn

        png, zone = self._work(lambda ctx: (chart.render(queries.report(ctx.session, ctx.playbook, digest.since,
                                                                        digest.until), ctx.playbook.settings.zone),
                                            ctx.playbook.settings.zone))
        day = f"{digest.until.astimezone(zone):%Y-%m-%d}"
        try:
            channel = self._gateway.channel_id(digest.channel)
            self._gateway.call("conversations.join", {"channel": channel})  # an upload needs a member
            file_id = self._gateway.upload_file(
                channel, filename=f"incident-report-{day}.png",
                title=f"Incidents per week and time to resolve, to {day}",
                content=png, comment="Incidents per week by severity, and time to resolve.", thread_ts=thread_ts)
        except SlackUnavailable as exc:
            error = str(exc)
            self._work(lambda ctx: _settle(ctx, digest, PENDING, error, later=backoff(digest.attempts)))
            return 0
        except SlackRejected as exc:
            refused = exc.error
            log.error("report_chart_refused", digest=digest.id, error=refused)
            self._work(lambda ctx: _settle(ctx, digest, FAILED, refused))
            return 0
        self._work(lambda ctx: _settle(ctx, digest, DONE, None, file_id=file_id))
        return 1


def _thread(ctx: Ctx, digest: ReportDigest) -> str | None:
    """The digest message's ts once it is sent ("" when it cannot be: the chart goes in the channel);
    None while it waits."""
    message = ctx.session.get(OutboundMessage, digest.message_id) if digest.message_id else None
    if message is None or message.state == "failed":
        return ""
    return (message.result_ts or "") if message.state == "sent" else None


def _claim(ctx: Ctx, digest: ReportDigest) -> bool:
    claimed = ctx.session.exec(  # type: ignore[call-overload]
        update(ReportDigest).where(col(ReportDigest.id) == digest.id)
        .where(col(ReportDigest.chart_state) == digest.chart_state)
        .where(col(ReportDigest.attempts) == digest.attempts)
        .values(chart_state=SENDING, claimed_until=ctx.now + CLAIM_FOR, attempts=digest.attempts + 1)
        .execution_options(synchronize_session=False))
    if claimed.rowcount == 1:
        digest.attempts += 1
    return bool(claimed.rowcount == 1)


def _settle(ctx: Ctx, digest: ReportDigest, state: str, error: str | None, *, later: timedelta = timedelta(0),
            file_id: str | None = None) -> None:
    row = ctx.session.get(ReportDigest, digest.id)
    assert row is not None
    row.chart_state, row.last_error, row.claimed_until = state, error, None
    row.next_attempt_at = ctx.now + later
    row.file_id = file_id or row.file_id

