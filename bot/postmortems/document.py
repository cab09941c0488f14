"""The post-mortem draft as a document: the seed's template (``templates.yaml: postmortem``) filled
from the incident, in Markdown as a Slack canvas reads it (headings, lists, checklists, a table,
``![](@U…)`` mentions), split into its ``##`` sections so that a regeneration can tell what is new
(timeline entries and action items, added at the end of their section) from what changed
(replaced only when someone says so). Pure functions: no database, no Slack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from bot.timeline.views import Markup, captured
from bot.work import BOT
from playbooks.durations import format_duration
from playbooks.models import Playbook
from playbooks.templates import render
from storage.changes import ChangeRequest
from storage.followups import DONE, FollowUp
from storage.models import ChecklistTick, Incident, StatusUpdate, TimelineEntry

MITIGATED = ("Monitoring", "Resolved")
"""An update with one of these statuses says the impact has stopped: the time to mitigate."""
ACTION_HEADER = "| Action | Owner | Due Date | Status |\n|--------|-------|----------|--------|"
_HEADING = re.compile(r"^##\s+(.+?)\s*$")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")
_BROADCAST = re.compile(r"<!(channel|here|everyone)(?:\|[^>]*)?>|<!subteam\^[A-Z0-9]+(?:\|(@?[^>]*))?>")
_CANVAS_MENTION = re.compile(r"!\[\]\(([@#])([A-Z0-9]+)\)")
MARKDOWN = Markup(strike=lambda text: f"~~{text}~~", link=lambda url: f"[message]({url})")


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    text: str
    """The section as written, its heading line included."""


@dataclass(frozen=True)
class Facts:
    """What the draft is made of, as the database holds it."""

    incident: Incident
    timeline: list[TimelineEntry]
    roles: dict[str, str]
    ticks: dict[str, ChecklistTick]
    updates: list[StatusUpdate]
    changes: list[ChangeRequest]
    followups: list[FollowUp]


@dataclass(frozen=True)
class Draft:
    sections: list[Section]
    timeline_ids: list[int]
    followup_ids: list[int]

    @property
    def markdown(self) -> str:
        return "".join(s.text for s in self.sections)


@dataclass
class Regeneration:
    """What a fresh draft brings compared with the stored one."""

    new_entries: list[TimelineEntry] = field(default_factory=list)
    new_followups: list[FollowUp] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    """Titles of sections that would read differently (other than by additions)."""


def mention(user: str) -> str:
    return "opsbot" if user == BOT else f"![](@{user})"


def inline(text: str) -> str:
    """Slack message text as one line of canvas Markdown: mentions and links converted, broadcasts
    defused, and nothing that would start a heading or break a table."""
    text = _USER.sub(lambda m: f"![](@{m.group(1)})", text)
    text = _CHANNEL.sub(lambda m: f"![](#{m.group(1)})", text)
    text = _LINK.sub(lambda m: f"[{m.group(2) or m.group(1)}]({m.group(1)})", text)
    text = _BROADCAST.sub(lambda m: "@" + (m.group(1) or (m.group(2) or "group").lstrip("@")), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split()).replace("|", "\\|")


def as_plain_markdown(markdown: str) -> str:
    """The canvas draft as a Markdown file: canvas mentions become ``@U…`` / ``#C…``."""
    return _CANVAS_MENTION.sub(lambda m: f"{m.group(1)}{m.group(2)}", markdown)


def build(playbook: Playbook, facts: Facts) -> Draft:
    incident = facts.incident
    values = {
        "incident_id": incident.ref, "title": inline(incident.title),
        "date": _local(playbook, incident.declared_at, "%Y-%m-%d"),
        "duration": format_duration(incident.resolved_at - incident.declared_at) if incident.resolved_at
        else "ongoing",
        "severity": playbook.severity(incident.severity).label,
        "impact": impact(facts.updates),
        "declared_at": _local(playbook, incident.declared_at),
        "acknowledged_at": _local(playbook, incident.acknowledged_at) if incident.acknowledged_at
        else "not acknowledged",
        "time_to_acknowledge": format_duration(incident.acknowledged_at - incident.declared_at)
        if incident.acknowledged_at else "n/a",
        "mitigated_at": _local(playbook, mitigated) if (mitigated := mitigated_at(incident, facts.updates))
        else "not yet",
        "time_to_mitigate": format_duration(mitigated - incident.declared_at) if mitigated else "n/a",
        "resolved_at": _local(playbook, incident.resolved_at) if incident.resolved_at else "not resolved yet",
        "roles": "\n".join(f"- **{r.name}**: " + (mention(facts.roles[r.key]) if r.key in facts.roles
                                                   else "unassigned") for r in playbook.roles),
        "timeline": "\n".join(entry_line(playbook, incident, e) for e in facts.timeline),
        "checklist": "\n".join(f"- [{'x' if item.key in facts.ticks else ' '}] {phase.name}: {item.text}"
                               for phase in playbook.phases for item in phase.items),
        "changes": "; ".join(change_line(playbook, cr) for cr in facts.changes) or "none linked",
        "summary": inline(incident.resolution_summary or incident.description
                          or "[Detailed description of the incident]"),
        "action_items": action_table(facts.followups),
    }
    text = render(playbook.templates.postmortem, values)
    return Draft(split(text), [e.id for e in facts.timeline if e.id is not None],
                 [f.id for f in facts.followups if f.id is not None])


def change_line(playbook: Playbook, cr: ChangeRequest) -> str:
    category = playbook.changes.categories.get(cr.category)
    summary = inline((cr.description.splitlines() or [""])[0][:150])
    return (f"{cr.number} ({category.name if category else cr.category}, {cr.status.replace('_', ' ')}, "
            f"requested by {mention(cr.requested_by)}): {summary}")


def impact(updates: Iterable[StatusUpdate]) -> str:
    """The impact as the updates stated it, in order: ``20% of checkouts fail → 5% slow``."""
    said = [inline(u.impact) for u in updates if u.impact.strip()]
    distinct = [text for i, text in enumerate(said) if i == 0 or text != said[i - 1]]
    return " → ".join(distinct) if distinct else "[Users/revenue affected]"


def mitigated_at(incident: Incident, updates: Iterable[StatusUpdate]) -> datetime | None:
    return next((u.at for u in updates if u.status in MITIGATED), incident.resolved_at)


def entry_line(playbook: Playbook, incident: Incident, entry: TimelineEntry) -> str:
    """One line, dated when it is not on the day the incident was declared (so a line reads the
    same however many entries follow it)."""
    zone = playbook.settings.zone
    other_day = entry.at.astimezone(zone).date() != incident.declared_at.astimezone(zone).date()
    when = _local(playbook, entry.at, "%Y-%m-%d %H:%M" if other_day else "%H:%M")
    by = "" if entry.author == BOT else f" ({mention(entry.author)})"
    return f"- **{when}** - {captured(entry, inline(entry.text), MARKDOWN)}{by}"


def action_rows(followups: Iterable[FollowUp]) -> list[str]:
    return [f"| {inline(f.text)} ({f.ref}) | {mention(f.owner)} | {f.due_on:%Y-%m-%d} | "
            f"{'done' if f.status == DONE else 'open'}"
            + (f" ([{f.tracker} {f.tracker_key}]({f.tracker_url}))" if f.tracker_url else "") + " |"
            for f in followups]


def action_table(followups: list[FollowUp]) -> str:
    return "\n".join([ACTION_HEADER, *action_rows(followups)])


def split(markdown: str) -> list[Section]:
    """``##`` sections, each with its heading line; what precedes the first is the ``head``."""
    sections: list[Section] = []
    key, title, lines = "head", "", []
    for line in markdown.splitlines(keepends=True):
        heading = _HEADING.match(line)
        if heading:
            if lines:
                sections.append(Section(key, title, "".join(lines)))
            title = heading.group(1)
            key, lines = _slug(title, {s.key for s in sections}), []
        lines.append(line)
    if lines:
        sections.append(Section(key, title, "".join(lines)))
    return sections


def section_of(playbook: Playbook, placeholder: str) -> str | None:
    """The key of the template's section that holds ``$placeholder`` (None if the pack's template
    leaves it out)."""
    for section in split(playbook.templates.postmortem):
        if f"${placeholder}" in section.text or f"${{{placeholder}}}" in section.text:
            return section.key
    return None


def compare(playbook: Playbook, stored: Draft, facts: Facts) -> Regeneration:
    """New entries and action items, and the sections whose text changed otherwise: a draft made
    now from only what the stored one held, compared section by section with it."""
    known_entries, known_followups = set(stored.timeline_ids), set(stored.followup_ids)
    entries, followups = {e.id: e for e in facts.timeline}, {f.id: f for f in facts.followups}
    baseline = build(playbook, Facts(  # in the stored order: additions went at the end, whatever their time
        facts.incident, [entries[i] for i in stored.timeline_ids if i in entries], facts.roles, facts.ticks,
        facts.updates, facts.changes, [followups[i] for i in stored.followup_ids if i in followups]))
    before = {s.key: s for s in stored.sections}
    changed = [s.title or "the title" for s in baseline.sections if before.get(s.key, s).text != s.text]
    changed += [s.title for s in stored.sections if s.key not in {b.key for b in baseline.sections}]
    return Regeneration(new_entries=[e for e in facts.timeline if e.id not in known_entries],
                        new_followups=[f for f in facts.followups if f.id not in known_followups],
                        changed=changed)


def appended(stored: Draft, key: str | None, addition: str, entry_ids: list[int], followup_ids: list[int]) -> Draft:
    """The stored draft with ``addition`` at the end of section ``key`` (before its blank lines)."""
    sections = []
    for section in stored.sections:
        if section.key == key:
            body = section.text.rstrip("\n")
            trailing = section.text[len(body):] or "\n"
            section = Section(section.key, section.title, f"{body}\n{addition}{trailing}")
        sections.append(section)
    return Draft(sections, [*stored.timeline_ids, *entry_ids], [*stored.followup_ids, *followup_ids])


def heading_after(draft: Draft, key: str | None) -> str | None:
    """The title of the section that follows ``key``: new lines go just before that heading."""
    keys = [s.key for s in draft.sections]
    if key not in keys or keys.index(key) + 1 >= len(keys):
        return None
    return draft.sections[keys.index(key) + 1].title


def _slug(title: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_") or "section"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def _local(playbook: Playbook, when: datetime, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    return when.astimezone(playbook.settings.zone).strftime(fmt)
