"""Escalation: who is told at which level, and when the next level is due.

Levels follow the playbook matrix by time since declaration, starting at the severity's
level (notified at once). A missed acknowledgement or two missed updates jump to the
next level early. Each level is notified once: ``escalation_level`` only grows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from bot.incidents import queries
from bot.slack.directory import Directory
from playbooks.models import EscalationLevel, Playbook
from storage.models import Incident


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


def resolve_targets(session: Session, directory: Directory, incident: Incident, targets: list[str], *,
                    on_call: Callable[[str], Sequence[str]] = lambda _name: ()) -> Recipients:
    """Mentions and people for a level's targets; ``schedule:<name>`` is whoever ``on_call(name)``
    says the schedule has on call now (overrides and swaps included, ``bot.oncall.service``)."""
    out = Recipients()
    for target in targets:
        if target.startswith("schedule:"):
            people = list(on_call(target[9:]))
            out.mentions += [f"<@{user}>" for user in people]
            out.users += people
            if not people:
                out.unresolved.append(f"{target} (nobody on call)")
        elif target.startswith("role:"):
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
