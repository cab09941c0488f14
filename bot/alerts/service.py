"""The rules that turn alerts into incidents the way a good on-call engineer would: one incident
per problem (an alert group), not one per alert.

- A group holds one alert per fingerprint, and the latest notification decides its state: a
  re-fire (a new start time, with or without a resolution between) replaces the firing before it;
  a late notification about an earlier firing changes nothing.
- A repeat of an unchanged notification moves the group's last-seen time and nothing else.
- A firing group at or above the playbook's ``declare_at`` opens an incident through the incident
  service (channels are provisioned as for any incident); below it, a triage message with
  Declare / Acknowledge / Silence buttons is posted in the alerts channel.
- Later alerts attach to the group's open incident: its alert summary message is marked due for
  an edit, at most once per ``summary_every`` (``bot.alerts.pump`` does the edit).
- When every alert of the group has resolved, the incident is asked "resolve?" (or resolved, where
  the playbook allows it and the group is small). A re-fire within ``reopen_within`` of the
  incident's resolution reopens it; later, it is a new problem.

During a scheduled maintenance window, alerts for the services under maintenance are stored and
shown as usual but do not page: no incident opens by itself for them.

Everything here runs inside the caller's transaction and only enqueues Slack calls.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlmodel import col, select

from bot.alerts import views
from bot.alerts.payloads import AlertBatch, IncomingAlert
from bot.incidents import service as incidents
from bot.incidents.service import DeclareRequest
from bot.refusal import Refusal
from bot.slack import outbox
from bot.slack.people import who
from bot.timers import claim
from bot.windows.service import under_maintenance
from bot.work import BOT, Ctx
from playbooks.alerts import AlertSettings
from storage.alerts import Alert, AlertGroup
from storage.models import Incident, OutboundMessage

SEVERITY_ORDER = ("P0", "P1", "P2", "P3")


@dataclass(frozen=True)
class Intake:
    """What one notification did."""

    group_id: int
    stored: int  # alerts seen for the first time
    changed: int  # alerts whose state changed
    repeat: bool  # an unchanged repeat: only last-seen moved
    incident_id: int | None  # None too while a paging group's incident is still being declared


def key_hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()


def higher(a: str, b: str) -> str:
    """The more severe of two P-levels (P0 is the most severe)."""
    return a if SEVERITY_ORDER.index(a) <= SEVERITY_ORDER.index(b) else b


def map_severity(settings: AlertSettings, labels: dict[str, str]) -> str:
    value = labels.get(settings.severity_label, "").lower()
    return settings.severities.get(value, settings.default_severity)


def find_group(ctx: Ctx, source: str, group_key: str) -> AlertGroup | None:
    return ctx.session.exec(select(AlertGroup).where(AlertGroup.source == source,
                                                     AlertGroup.key_hash == key_hash(group_key))).first()


def ingest(ctx: Ctx, batch: AlertBatch) -> Intake:
    group = find_group(ctx, batch.source, batch.group_key)
    digest = batch.digest
    if group is not None and group.payload_hash == digest:
        ctx.session.exec(update(AlertGroup).where(col(AlertGroup.id) == group.id)  # type: ignore[call-overload]
                         .values(last_seen=ctx.now))
        return Intake(group.id or 0, 0, 0, True, group.incident_id)
    if group is None:
        return _ingest_new(ctx, batch, digest)
    group.payload_hash, group.last_seen, group.truncated = digest, ctx.now, batch.truncated
    group.link = batch.link or group.link
    stored, changed = _store_alerts(ctx, group, batch.alerts)
    if batch.acknowledge and group.triage == "pending":  # shown at once, like the button (once per group)
        group.triage, group.triage_by, group.summary_due_at = "acknowledged", batch.source, ctx.now
    firing = _firing_count(ctx, group)
    if firing and (stored or changed or group.status == "resolved"):
        _on_firing(ctx, group)
    elif not firing and group.status == "firing" and (stored or changed):
        _on_all_resolved(ctx, group)
    return Intake(group.id or 0, stored, changed, False, group.incident_id)


def _ingest_new(ctx: Ctx, batch: AlertBatch, digest: str) -> Intake:
    """A group seen for the first time. Everything is decided before its row is written, so a storm
    of new groups costs two inserts per notification (the group, its alerts) and nothing more: a
    paging group only gets its ``declare_due_at``; the pump declares its incident."""
    settings = ctx.playbook.alerts
    firing = [a for a in batch.alerts if a.status == "firing"]
    severity = SEVERITY_ORDER[-1]
    for incoming in firing:
        severity = higher(severity, map_severity(settings, incoming.labels))
    services = {a.labels.get(settings.service_label) for a in batch.alerts} - {None}
    group = AlertGroup(source=batch.source, key_hash=key_hash(batch.group_key), group_key=batch.group_key,
                       title=batch.title or batch.group_key[:200], severity=severity,
                       service=next(iter(services)) if len(services) == 1 else None,
                       status="firing" if firing else "resolved", resolved_at=None if firing else ctx.now,
                       truncated=batch.truncated, payload_hash=digest, link=batch.link,
                       first_seen=ctx.now, last_seen=ctx.now)
    if firing and _pages(ctx, group):
        group.declare_due_at = ctx.now
    elif firing:
        group.triage, group.summary_due_at = "pending", ctx.now
    ctx.session.add(group)
    ctx.session.flush()
    stored, _ = _store_alerts(ctx, group, batch.alerts, fresh=True)
    return Intake(group.id or 0, stored, 0, False, None)


def _pages(ctx: Ctx, group: AlertGroup) -> bool:
    """At or above the playbook's threshold, and not for a service under maintenance."""
    at_or_above = SEVERITY_ORDER.index(group.severity) <= SEVERITY_ORDER.index(ctx.playbook.alerts.declare_at)
    return at_or_above and not under_maintenance(ctx.session, group.service, ctx.now)


@dataclass
class _Known:
    """A stored alert, as much of it as intake needs (no ORM object: a storm stores thousands)."""

    id: int | None
    starts_at: datetime
    status: str
    first_seen: datetime


def _store_alerts(ctx: Ctx, group: AlertGroup, alerts: tuple[IncomingAlert, ...], *,
                  fresh: bool = False) -> tuple[int, int]:
    """Insert new alerts and move known ones to the state the notification gives them: one select
    (one row per fingerprint, never its earlier firings), one multi-row insert, at most two
    updates, whatever the number of alerts."""
    settings = ctx.playbook.alerts
    fingerprints = {a.fingerprint for a in alerts}
    known: dict[str, _Known] = {}
    if fingerprints and not fresh:
        found = ctx.session.execute(select(Alert.id, Alert.fingerprint, Alert.starts_at, Alert.status,
                                           Alert.first_seen)
                                    .where(Alert.group_id == group.id, col(Alert.fingerprint).in_(fingerprints))).all()
        known = {fingerprint: _Known(row_id, starts_at, status, first_seen)
                 for row_id, fingerprint, starts_at, status, first_seen in found}
    new: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    seen: list[int] = []
    for incoming in alerts:
        severity = map_severity(settings, incoming.labels)
        if incoming.status == "firing":
            group.severity = higher(group.severity, severity)
        row = known.get(incoming.fingerprint)
        if row is None:
            if incoming.status == "resolved" and incoming.starts_at is None:
                continue  # an events "resolve" for an alert that is not firing: nothing to resolve
            starts_at = incoming.starts_at or ctx.now
            new.append({"group_id": group.id, "fingerprint": incoming.fingerprint, "first_seen": ctx.now,
                        **_columns(incoming, starts_at, severity, ctx.now)})
            known[incoming.fingerprint] = _Known(None, starts_at, incoming.status, ctx.now)
            continue
        if row.id is None:
            continue  # the same fingerprint twice in one notification: the first counts
        starts_at = _starts_at(row, incoming, ctx.now)
        if starts_at is None:
            continue  # about an earlier firing than the stored one: the stored state is newer
        if starts_at != row.starts_at or incoming.status != row.status:
            first_seen = ctx.now if starts_at != row.starts_at else row.first_seen  # a re-fire is seen anew
            moved.append({"row_id": row.id, "new_first_seen": first_seen,
                          **{f"new_{k}": v for k, v in _columns(incoming, starts_at, severity, ctx.now).items()}})
            row.starts_at, row.status = starts_at, incoming.status
        else:
            seen.append(row.id)
    table = Alert.__table__  # type: ignore[attr-defined]
    if new:
        ctx.session.execute(insert(table), new)
    if moved:  # never back to an earlier firing, whatever a racing notification wrote meanwhile
        ctx.session.execute(
            update(table).where(table.c.id == bindparam("row_id"), table.c.starts_at <= bindparam("new_starts_at"))
            .values({column: bindparam(f"new_{column}") for column in (*_STATE, "first_seen")}), moved)
    if seen:
        ctx.session.execute(update(table).where(table.c.id.in_(seen)).values(last_seen=ctx.now))
    return len(new), len(moved)


_STATE = ("starts_at", "ends_at", "status", "name", "summary", "severity", "labels", "annotations", "url",
          "last_seen")


def _columns(incoming: IncomingAlert, starts_at: datetime, severity: str, now: datetime) -> dict[str, Any]:
    """The columns the latest notification decides (``_STATE``)."""
    ends_at = (incoming.ends_at or now) if incoming.status == "resolved" else incoming.ends_at
    return {"starts_at": starts_at, "ends_at": ends_at,
            "status": incoming.status, "name": incoming.name[:200], "summary": incoming.summary[:2000],
            "severity": severity, "labels": json.dumps(incoming.labels),
            "annotations": json.dumps(incoming.annotations), "url": incoming.url, "last_seen": now}


def _starts_at(row: _Known, incoming: IncomingAlert, now: datetime) -> datetime | None:
    """The start of the firing the notification is about; None when that firing is older than the
    stored one (a late retry). Events have no start time: a trigger for a resolved alert is a new
    firing that starts now; anything else is about the stored one."""
    if incoming.starts_at is None:
        return now if incoming.status == "firing" and row.status == "resolved" else row.starts_at
    return None if incoming.starts_at < row.starts_at else incoming.starts_at


def _firing_count(ctx: Ctx, group: AlertGroup) -> int:
    return ctx.session.exec(select(func.count()).select_from(Alert).where(  # type: ignore[call-overload]
        Alert.group_id == group.id, Alert.status == "firing")).one()


def _firing_severity(ctx: Ctx, group: AlertGroup) -> str:
    severities = ctx.session.exec(select(Alert.severity).where(
        Alert.group_id == group.id, Alert.status == "firing").distinct()).all()
    severity = SEVERITY_ORDER[-1]
    for value in severities:
        severity = higher(severity, value) if value in SEVERITY_ORDER else severity
    return severity


def _incident(ctx: Ctx, group: AlertGroup) -> Incident | None:
    return ctx.session.get(Incident, group.incident_id) if group.incident_id else None


def _on_firing(ctx: Ctx, group: AlertGroup) -> None:
    """New or changed firing alerts: attach, reopen, page (the pump opens the incident), or triage."""
    settings = ctx.playbook.alerts
    resolved_at = group.resolved_at if group.status == "resolved" else None
    group.status, group.resolved_at, group.prompted_at = "firing", None, None
    if resolved_at is not None:  # a re-fire is as severe as what fires now, not as what fired before
        group.severity = _firing_severity(ctx, group)
    if group.declare_due_at is not None:
        return  # its incident is being declared; the summary then shows these alerts too
    incident = _incident(ctx, group)
    if incident is not None and incident.status == "open":
        if resolved_at:
            incidents.record(ctx, incident, BOT, "alerts", "Alerts of the group are firing again")
        _mark_summary_due(ctx, group)
        return
    if incident is not None and incident.resolved_at and ctx.now - incident.resolved_at <= settings.reopen_within:
        incidents.reopen(ctx, incident, f"alerts of {group.title} fired again", BOT)
        incident.provision_due_at = ctx.now if incident.brief_ts is None else None
        _mark_summary_due(ctx, group)
        return
    if incident is not None:  # resolved long ago: this is a new problem
        group.incident_id, group.message_id, group.triage = None, None, "none"
    if _pages(ctx, group):
        group.declare_due_at = ctx.now
        return
    _triage(ctx, group, resolved_at)


def _triage(ctx: Ctx, group: AlertGroup, resolved_at: datetime | None) -> None:
    """A triage message for a new problem below the threshold; later alerts edit it. A re-fire long
    after the group resolved is a new problem with a new message, unless someone silenced it."""
    window: timedelta = ctx.playbook.alerts.reopen_within
    stale = resolved_at is not None and ctx.now - resolved_at > window
    silenced = group.triage == "silenced" and group.silenced_until is not None and group.silenced_until > ctx.now
    if group.message_id is None or (stale and not silenced):
        group.triage, group.triage_by, group.message_id = "pending", None, None
        group.summary_due_at = ctx.now
        return
    _mark_summary_due(ctx, group)


def declare_due(ctx: Ctx, group_id: int) -> Incident | None:
    """The incident a paging group is owed, declared by the pump off the webhook's request path
    (claimed by compare-and-set on ``declare_due_at``, so once across replicas); None when another
    process claimed it, or someone declared it from the triage message meanwhile.

    It is declared as of the notification that paged (its timeline, response time and escalation
    count from then, however busy the pump was), and told at once if the group resolved meanwhile."""
    owed = ctx.session.get(AlertGroup, group_id)
    paged_at = owed.declare_due_at if owed is not None else None
    group = claim(ctx, AlertGroup, group_id, "declare_due_at")
    if group is None or paged_at is None:
        return None
    existing = _incident(ctx, group)
    if existing is not None and existing.status == "open":
        return None
    incident = open_incident(replace(ctx, now=paged_at), group, BOT)
    if group.status == "resolved":
        _tell_all_resolved(ctx, group, incident)
    return incident


def open_incident(ctx: Ctx, group: AlertGroup, by: str) -> Incident:
    """Declare the group's incident through the incident service; its channel is provisioned by the
    pump right away (``provision_due_at`` now), its alert summary posted once the channel exists."""
    if group.incident_id is not None:
        existing = _incident(ctx, group)
        if existing is not None and existing.status == "open":
            raise Refusal(f"This alert group is already {existing.ref}.")
    firing = ctx.session.exec(select(Alert).where(Alert.group_id == group.id, Alert.status == "firing")
                              .limit(5)).all()
    description = "\n".join(f"• {a.name}: {a.summary}".rstrip(": ") for a in firing)
    incident, _ = incidents.declare(ctx, DeclareRequest(
        severity=group.severity, title=f"[{group.source}] {group.title}"[:150], declared_by=by,
        description=description[:2900], request_key=f"alerts:{group.id}:{group.episode}",
        source_channel_id=group.thread_channel))
    incident.provision_due_at = ctx.now
    incidents.record(ctx, incident, by, "alerts", f"Opened from {group.source} alert group {group.title}")
    if group.message_id is not None:  # the triage message says where the problem went
        anchor = ctx.session.get(OutboundMessage, group.message_id)
        if anchor is not None:
            text = views.declared_text(group, incident, by)
            outbox.edit(ctx.session, ctx.now, anchor, text, views.note_blocks(text), purpose="alert_triage")
    group.incident_id, group.episode, group.triage, group.triage_by = incident.id, group.episode + 1, "declared", by
    group.message_id, group.prompted_at, group.declare_due_at = None, None, None
    group.summary_due_at = ctx.now
    return incident


def _on_all_resolved(ctx: Ctx, group: AlertGroup) -> None:
    group.status, group.resolved_at = "resolved", ctx.now
    group.summary_due_at = ctx.now  # the all-clear is news: not held back by the debounce (once per episode)
    incident = _incident(ctx, group)
    if incident is not None and incident.status == "open":
        _tell_all_resolved(ctx, group, incident)


def _tell_all_resolved(ctx: Ctx, group: AlertGroup, incident: Incident) -> None:
    """On the incident's timeline; resolved by the bot where the playbook allows it for a group this
    small (the alerts seen since it was declared), else the pump posts the prompt."""
    settings = ctx.playbook.alerts
    incidents.record(ctx, incident, BOT, "alerts", f"All alerts of {group.title} resolved")
    total = ctx.session.exec(select(func.count()).select_from(Alert).where(  # type: ignore[call-overload]
        Alert.group_id == group.id, Alert.first_seen >= incident.declared_at)).one()
    small = group.truncated == 0 and total <= settings.auto_resolve_max_alerts
    if settings.auto_resolve and small:
        incidents.resolve(ctx, incident, "All alerts resolved (resolved automatically, as the playbook says)", BOT)
        group.prompted_at = ctx.now


def _mark_summary_due(ctx: Ctx, group: AlertGroup) -> None:
    """Debounce: the next edit is due one interval after the last one, and a due edit stays due."""
    if group.summary_due_at is not None:
        return
    every = ctx.playbook.alerts.summary_every
    group.summary_due_at = max(ctx.now, group.summary_sent_at + every) if group.summary_sent_at else ctx.now


# -- triage buttons -------------------------------------------------------------------------------

def declare(ctx: Ctx, group: AlertGroup, by: str) -> tuple[Incident, str]:
    if group.triage == "declared" and group.incident_id:
        incident = _incident(ctx, group)
        if incident is not None and incident.status == "open":
            return incident, f"Already declared as {incident.ref}."
    incident = open_incident(ctx, group, by)
    return incident, f"Declared {incident.ref}; its channel is being set up."


def acknowledge(ctx: Ctx, group: AlertGroup, by: str) -> str:
    if group.triage == "declared":
        return "This alert group is already an incident."
    if group.triage == "acknowledged":
        return f"Already acknowledged by {who(group.triage_by)}."
    group.triage, group.triage_by = "acknowledged", by
    group.summary_due_at = ctx.now
    return "Acknowledged; the alerts stay in this thread's message."


def silence(ctx: Ctx, group: AlertGroup, by: str) -> str:
    if group.triage == "declared":
        return "This alert group is already an incident."
    group.triage, group.triage_by = "silenced", by
    group.silenced_until = ctx.now + ctx.playbook.alerts.silence_for
    group.summary_due_at = ctx.now
    return f"Silenced until {views.stamp(ctx.playbook, group.silenced_until)}: no new triage message until then."


# -- Slack alert integrations -----------------------------------------------------------------------

def slack_message(ctx: Ctx, channel_id: str, ts: str, text: str) -> bool:
    """A message of an alert integration in a listened channel: a group of one alert, with a
    "Declare incident" button in its thread. False when this message was seen already (retries)."""
    key = f"{channel_id}:{ts}"
    if find_group(ctx, "slack", key) is not None:
        return False
    first_line = next((line for line in text.splitlines() if line.strip()), "Alert")
    group = AlertGroup(source="slack", key_hash=key_hash(key), group_key=key, title=first_line.strip()[:150],
                       severity=ctx.playbook.alerts.listen_severity, thread_channel=channel_id, thread_ts=ts,
                       triage="pending", first_seen=ctx.now, last_seen=ctx.now)
    ctx.session.add(group)
    ctx.session.flush()
    ctx.session.add(Alert(group_id=group.id or 0, fingerprint=ts, starts_at=ctx.now, status="firing",
                          name=group.title, summary=text[:2000], severity=group.severity,
                          first_seen=ctx.now, last_seen=ctx.now))
    row = outbox.post(ctx.session, ctx.now, channel_id, views.SLACK_OFFER, views.slack_offer_blocks(group),
                      thread_ts=ts, purpose="alert_offer")
    ctx.session.flush()
    group.message_id = row.id
    return True
