"""Escalation: who is told at which level, and when the next level is due.

Levels follow the playbook matrix by time since declaration, starting at the severity's
level (notified at once). A missed acknowledgement or two missed updates jump to the
next level early. Each level is notified once: ``escalation_level`` only grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from bot.incidents import queries
from bot.slack import outbox
from bot.slack.gateway import UserGroup
from playbooks.models import EscalationLevel, Playbook
from storage.models import Incident, TimelineEntry


class Directory(Protocol):
    def user_group(self, handle: str) -> UserGroup | None: ...


@dataclass
class Recipients:
    mentions: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


def next_due(playbook: Playbook, incident: Incident) -> datetime | None:
    start = playbook.severity(incident.severity).escalation_starts_at
    if start is None or incident.status != "open":
        return None
    for level in playbook.escalation:
        if level.level >= start and level.level > incident.escalation_level:
            return incident.declared_at if level.level == start else incident.declared_at + level.after
    return None


def due_levels(playbook: Playbook, incident: Incident, now: datetime) -> list[EscalationLevel]:
    """Levels whose time has come and that were not notified yet, lowest first (after downtime,
    several can be due at once; each is still told)."""
    start = playbook.severity(incident.severity).escalation_starts_at
    if start is None:
        return []
    return [lvl for lvl in playbook.escalation
            if lvl.level >= start and lvl.level > incident.escalation_level
            and (lvl.level == start or incident.declared_at + lvl.after <= now)]


def resolve_targets(session: Session, directory: Directory, incident: Incident, targets: list[str]) -> Recipients:
    out = Recipients()
    for target in targets:
        if target.startswith("role:"):
            holder = queries.role_holder(session, incident.id, target[5:])
            if holder:
                out.mentions.append(f"<@{holder.user_id}>")
                out.users.append(holder.user_id)
            else:
                out.unresolved.append(target)
        elif target.startswith("@"):
            group = directory.user_group(target)
            if group:
                out.mentions.append(f"<!subteam^{group.id}>")
                out.users.extend(group.users)
            else:
                out.unresolved.append(target)
        else:
            out.mentions.append(f"<@{target}>")
            out.users.append(target)
    out.users = list(dict.fromkeys(out.users))
    return out


def escalate(session: Session, directory: Directory, playbook: Playbook, incident: Incident,
             level: EscalationLevel, now: datetime, reason: str) -> None:
    """Notify one level (mention in the channel, a DM each, an invitation) and plan the next."""
    who = resolve_targets(session, directory, incident, level.notify)
    incident.escalation_level = level.level
    incident.next_escalation_at = next_due(playbook, incident)
    mentions = " ".join(who.mentions) or "nobody could be resolved"
    text = (f":rotating_light: *Escalation level {level.level}* for {incident.ref} ({reason}): {mentions}"
            + (f"\n_{level.description}_" if level.description else ""))
    if who.unresolved:
        text += f"\n:warning: Not found in this workspace: {', '.join(who.unresolved)}"
    session.add(TimelineEntry(incident_id=incident.id, at=now, author="opsbot", kind="escalation",
                              text=f"Escalated to level {level.level} ({reason}): {mentions}"))
    outbox.post(session, now, incident.channel_id or "", text, incident_id=incident.id, purpose="escalation")
    if who.users and incident.channel_id:
        outbox.enqueue(session, now, "conversations.invite",
                       {"channel": incident.channel_id, "users": ",".join(who.users)}, incident_id=incident.id)
    dm = (f":rotating_light: You are being escalated to for {incident.ref} "
          f"({playbook.severity(incident.severity).label}): {incident.title}. Reason: {reason}. "
          f"Join <#{incident.channel_id}>.")
    for user in who.users:
        outbox.post(session, now, user, dm, incident_id=incident.id, purpose="escalation_dm")
