"""Turning a declared incident into a ready Slack channel.

Three sequential round trips on a warm directory cache: create the channel (while the
responders are looked up); then invite, topic, brief and the answer to the declarer together,
while the announcement queued with the new channel is delivered; then pin the brief. Each step
is saved as it completes, so a retry after a crash or a Slack outage picks up where it stopped
and never makes a second channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from slack_sdk.webhook import WebhookClient
from sqlalchemy import update
from sqlmodel import col

from bot.incidents import escalation, queries, service, views
from bot.oncall import service as oncall
from bot.slack import outbox
from bot.slack.gateway import SlackGateway, SlackRejected, SlackUnavailable
from bot.work import BOT, Ctx, UnitOfWork
from playbooks.models import Playbook
from storage.models import Incident

log = structlog.get_logger(__name__)
MAX_NAME_TRIES = 20
RETRY_BACKOFF = (timedelta(seconds=10), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=5))


@dataclass(frozen=True)
class Provisioned:
    incident_id: int
    channel_id: str | None
    channel_name: str | None
    error: str | None = None


def channel_name(playbook: Playbook, declared_at: datetime, attempt: int) -> str:
    stamp = declared_at.astimezone(playbook.settings.zone).strftime("%Y%m%d-%H%M")
    base = f"{playbook.settings.channel_prefix}-{stamp}"
    return base if attempt == 1 else f"{base}-{attempt}"


class Provisioner:
    def __init__(self, work: UnitOfWork, gateway: SlackGateway) -> None:
        self._work = work
        self._gateway = gateway
        self._playbook = work.playbook

    def claim_due(self) -> list[int]:
        """Incidents whose channel or brief is still owed; each claimed once by compare-and-set."""
        rows = self._work(lambda ctx: ctx.session.exec(
            Incident.__table__.select()  # type: ignore[attr-defined]
            .where(col(Incident.brief_ts).is_(None))
            .where(col(Incident.provision_due_at) <= ctx.now)
        ).all())

        def claim(ctx: Ctx, incident_id: int, due: object) -> bool:
            result = ctx.session.exec(  # type: ignore[call-overload]
                update(Incident).where(col(Incident.id) == incident_id)
                .where(col(Incident.provision_due_at) == due)
                .values(provision_due_at=ctx.now + RETRY_BACKOFF[-1])
            )
            return bool(result.rowcount == 1)

        return [row.id for row in rows if self._work(lambda ctx, r=row: claim(ctx, r.id, r.provision_due_at))]

    def provision(self, incident_id: int) -> Provisioned:
        incident = self._work(lambda ctx: ctx.session.get(Incident, incident_id))
        assert incident is not None
        try:
            if incident.channel_id is None:
                self._create_channel(incident)
            if incident.brief_ts is None:
                self._furnish(incident)
        except (SlackUnavailable, SlackRejected) as exc:
            return self._failed(incident, exc)
        return Provisioned(incident.id, incident.channel_id, incident.channel_name)

    def _create_channel(self, incident: Incident) -> None:
        severity = self._playbook.severity(incident.severity)
        # Warm the user-group cache while the channel is being created.
        lookups = [lambda t=t: self._gateway.user_group(t) for t in severity.responders if t.startswith("@")]
        self._gateway.parallel(*lookups)
        for attempt in range(1, MAX_NAME_TRIES + 1):
            name = channel_name(self._playbook, incident.declared_at, attempt)
            if self._gateway.known_channel(name):
                continue
            try:
                channel_id = self._gateway.create_channel(name)
                break
            except SlackRejected as exc:
                if exc.error != "name_taken":
                    raise
        else:
            # Every numbered name of that minute is taken (an alert storm): one only this incident can have.
            name = f"{channel_name(self._playbook, incident.declared_at, 1)}-n{incident.id}"
            try:
                channel_id = self._gateway.create_channel(name)
            except SlackRejected as exc:
                if exc.error != "name_taken":
                    raise
                channel_id = self._gateway.channel_id(f"#{name}")  # made by an earlier attempt for this incident
        def created(ctx: Ctx) -> None:
            """The announcement (and the declarer's DM) go out as soon as this commits."""
            row = ctx.session.get(Incident, incident.id)
            assert row is not None
            # still owed until the brief is pinned: a crash from here on is finished by the scheduler
            row.channel_id, row.channel_name = channel_id, name
            row.provision_due_at = ctx.now + service.PROVISION_GRACE
            service.record(ctx, row, BOT, "channel", f"Channel #{name} created")
            service.happened(ctx, row, "channel_created")
            outbox.post(ctx.session, ctx.now, self._playbook.settings.incidents_channel,
                        views.announcement(self._playbook, row), incident_id=row.id, purpose="announcement")
            # declared from the modal (no response URL): tell them by DM; the bot (alerts) needs no word
            if not row.response_url and row.declared_by != BOT:
                outbox.post(ctx.session, ctx.now, row.declared_by, _ready_text(row), incident_id=row.id,
                            purpose="ready")

        self._work(created)
        incident.channel_id, incident.channel_name = channel_id, name

    def _furnish(self, incident: Incident) -> None:
        severity = self._playbook.severity(incident.severity)
        who, roles, ticks, changes = self._work(lambda ctx: (
            escalation.resolve_targets(ctx.session, ctx.directory, incident, list(severity.responders),
                                       on_call=lambda name: oncall.on_call_now(ctx, name)),
            queries.roles(ctx.session, incident.id), queries.ticks(ctx.session, incident.id),
            queries.linked_changes(ctx.session, incident.id)))
        commander = roles.get("incident_commander")
        declarer = [] if incident.declared_by == BOT else [incident.declared_by]  # alerts declare as the bot
        members = list(dict.fromkeys([*declarer, *who.users, *roles.values()]))
        channel = incident.channel_id
        assert channel is not None
        brief = {"channel": channel, "text": views.brief_fallback(self._playbook, incident),
                 "blocks": views.brief_blocks(self._playbook, incident, roles, ticks, changes)}
        results = self._gateway.parallel(
            lambda: self._gateway.invite(channel, members),
            lambda: self._gateway.call("conversations.setTopic", {
                "channel": channel, "topic": views.topic(self._playbook, incident, commander)}),
            lambda: self._gateway.call("chat.postMessage", brief),
            lambda: self._answer_declarer(incident),
        )
        brief_result = results[2]
        if isinstance(brief_result, BaseException):
            raise brief_result
        for failed in (r for r in (results[0], results[1]) if isinstance(r, BaseException)):
            log.warning("provision_step_failed", incident=incident.ref, error=str(failed))
        brief_ts = brief_result["ts"]
        try:
            self._gateway.call("pins.add", {"channel": channel, "timestamp": brief_ts})
        except SlackRejected as exc:
            if exc.error != "already_pinned":
                raise
        def furnished(ctx: Ctx) -> None:
            row = ctx.session.get(Incident, incident.id)
            assert row is not None
            row.brief_ts, row.provision_due_at = brief_ts, None

        self._work(furnished)
        incident.brief_ts = brief_ts

    def _answer_declarer(self, incident: Incident) -> None:
        if not incident.response_url:
            return
        WebhookClient(incident.response_url, timeout=10).send(text=_ready_text(incident), response_type="ephemeral")

    def _failed(self, incident: Incident, exc: Exception) -> Provisioned:
        def deferred(ctx: Ctx) -> None:
            row = ctx.session.get(Incident, incident.id)
            assert row is not None
            attempts = row.provision_attempts
            row.provision_attempts = attempts + 1
            if row.channel_id is None or row.brief_ts is None:
                row.provision_due_at = ctx.now + RETRY_BACKOFF[min(attempts, len(RETRY_BACKOFF) - 1)]

        self._work(deferred)
        log.warning("provision_deferred", incident=incident.ref, error=str(exc))
        return Provisioned(incident.id, incident.channel_id, incident.channel_name, error=str(exc))


def _ready_text(incident: Incident) -> str:
    return (f"{incident.ref} declared: <#{incident.channel_id}> is ready. "
            "You have been added; claim a role from the pinned brief.")
