"""Block Kit and message texts for incidents. Rendering only: no rules, no I/O."""

from __future__ import annotations

import json
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.incidents.queries import Progress
from bot.slack.people import who
from bot.work import BOT
from playbooks.durations import format_duration
from playbooks.models import Playbook
from playbooks.templates import render
from storage.changes import ChangeRequest
from storage.models import ChecklistTick, Incident, StatusUpdate

CLAIM_ROLE = "incident_claim_role"
TICK = "incident_tick"
UNTICK = "incident_untick"
OPEN_UPDATE = "incident_open_update"
DECLARE_VIEW = "incident_declare"
UPDATE_VIEW = "incident_update"
STATUSES = ("Investigating", "Identified", "Mitigating", "Monitoring", "Resolved")
SECTION_LIMIT = 2900


def person(user: str) -> str:
    """A mention, or the bot's own name for what it did itself (incidents opened by alerts)."""
    return f"{BOT} (from alerts)" if user == BOT else who(user)


def _dicts(blocks: list[Block]) -> list[dict]:
    return [b.to_dict() for b in blocks]


def local(playbook: Playbook, when: datetime, fmt: str = "%H:%M %Z") -> str:
    return when.astimezone(playbook.settings.zone).strftime(fmt)


def action_value(incident: Incident, key: str) -> str:
    return f"{incident.id}:{key}"


def parse_action_value(value: str) -> tuple[int, str] | None:
    head, _, key = (value or "").partition(":")
    return (int(head), key) if head.isdigit() and key else None


def topic(playbook: Playbook, incident: Incident, commander: str | None) -> str:
    state = "RESOLVED · " if incident.status == "resolved" else ""
    ic = f"<@{commander}>" if commander else "unassigned"
    text = f"{state}{playbook.severity(incident.severity).label} · {incident.title} · IC: {ic}"
    return text[:250]


def brief_fallback(playbook: Playbook, incident: Incident) -> str:
    return f"{incident.ref} {playbook.severity(incident.severity).label}: {incident.title}"


def brief_blocks(playbook: Playbook, incident: Incident, roles: dict[str, str],
                 ticks: dict[str, ChecklistTick], changes: list[ChangeRequest] | None = None) -> list[dict]:
    severity = playbook.severity(incident.severity)
    open_ = incident.status == "open"
    phase = playbook.phase(incident.phase) or playbook.phases[0]
    blocks: list[Block] = [
        HeaderBlock(text=f"{incident.ref} · {severity.label}"[:150]),
        SectionBlock(text=MarkdownTextObject(text=f"*{incident.title}*"
                                             + (f"\n{incident.description}" if incident.description else ""))),
        ContextBlock(elements=[MarkdownTextObject(
            text=f"*{severity.key}:* {severity.definition} · respond within {format_duration(severity.response_time)}"
            f" · declared by {person(incident.declared_by)} at {local(playbook, incident.declared_at)}"
            f" · status: *{'open' if open_ else 'resolved'}* · phase: *{phase.name}*")]),
        *[ContextBlock(elements=[MarkdownTextObject(text=line)]) for line in caused_by(playbook, changes or [])],
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text="*Roles*")),
    ]
    for role in playbook.roles:
        holder = roles.get(role.key)
        text = f"*{role.name}*: " + (f"<@{holder}>" if holder else "_unclaimed_") + f"\n{role.purpose}"
        accessory = None
        if open_ and not holder:
            accessory = ButtonElement(text="Claim", action_id=CLAIM_ROLE, value=action_value(incident, role.key))
        blocks.append(SectionBlock(block_id=f"role_{role.key}", text=MarkdownTextObject(text=text),
                                   accessory=accessory))
    done = sum(1 for item in phase.items if item.key in ticks)
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(
        text=f"*Checklist: {phase.name}*" + (f" ({phase.target})" if phase.target else "")
        + f" · {done}/{len(phase.items)} done"))]
    for item in phase.items:
        tick = ticks.get(item.key)
        mark = (f":white_check_mark: ~{item.text}~ ({who(tick.done_by)})" if tick
                else f":white_large_square: {item.text}")
        accessory = None
        if open_:
            accessory = ButtonElement(text="Untick" if tick else "Tick", action_id=UNTICK if tick else TICK,
                                      value=action_value(incident, item.key))
        blocks.append(SectionBlock(block_id=f"item_{item.key}", text=MarkdownTextObject(text=mark),
                                   accessory=accessory))
    if open_:
        blocks.append(ActionsBlock(elements=[ButtonElement(text="Post update", action_id=OPEN_UPDATE,
                                                           value=str(incident.id), style="primary")]))
    return _dicts(blocks)


def caused_by(playbook: Playbook, changes: list[ChangeRequest]) -> list[str]:
    """One line per change request linked to the incident (``/change link``)."""
    lines = []
    for cr in changes:
        summary = (cr.description.splitlines() or [""])[0][:150]
        summary = summary.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # typed text, no pings
        category = playbook.changes.categories.get(cr.category)
        lines.append(f":link: Caused by change *{cr.number}* ({category.name if category else cr.category}, "
                     f"{cr.status.replace('_', ' ')}, requested by <@{cr.requested_by}>): {summary}")
    return lines


def announcement(playbook: Playbook, incident: Incident) -> str:
    severity = playbook.severity(incident.severity)
    return (f":rotating_light: {incident.ref} *{severity.label}* declared by {person(incident.declared_by)}: "
            f"{incident.title}. Join <#{incident.channel_id}>.")


def _values(playbook: Playbook, incident: Incident, update: StatusUpdate | None, now: datetime,
            progress: Progress) -> dict[str, str]:
    return {
        "time": local(playbook, now), "status": update.status if update else "Investigating",
        "impact": (update.impact if update else "") or "not yet assessed",
        "actions": (update.actions if update else "") or "investigating",
        "eta": (update.eta if update else "") or "unknown",
        "incident_id": incident.ref, "title": incident.title, "severity": incident.severity,
        "elapsed": format_duration(now - incident.declared_at), "progress": str(progress),
    }


def status_update_text(playbook: Playbook, incident: Incident, update: StatusUpdate | None, now: datetime,
                       progress: Progress) -> str:
    return render(playbook.templates.status_update, _values(playbook, incident, update, now, progress))


def stakeholder_update_text(playbook: Playbook, incident: Incident, update: StatusUpdate | None, now: datetime,
                            progress: Progress, channel: str) -> str:
    """The update as a stakeholder channel gets it: the short summary in ``public.summary_channels``."""
    if channel in playbook.public.summary_channels:
        return render(playbook.templates.status_summary, _values(playbook, incident, update, now, progress))
    return status_update_text(playbook, incident, update, now, progress)


def update_blocks(text: str, author: str | None) -> list[dict]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text[:SECTION_LIMIT]))]
    if author:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Posted by <@{author}>")]))
    return _dicts(blocks)


def combined_updates(updates: list[tuple[str, str]]) -> tuple[str, list[dict]]:
    """Scheduled updates of several incidents (reference, text) as one stakeholder message: a section
    each, after a heading (at most 49 updates: Slack takes 50 blocks)."""
    refs = ", ".join(ref for ref, _ in updates)
    heading = f"*Scheduled status updates of {len(updates)} incidents*: {refs}"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=heading[:SECTION_LIMIT]))]
    blocks += [SectionBlock(text=MarkdownTextObject(text=text[:SECTION_LIMIT])) for _, text in updates[:49]]
    return f"Scheduled status updates of {len(updates)} incidents: {refs}"[:3000], _dicts(blocks)


def cadence_blocks(text: str, incident: Incident, *, missed_since: datetime | None, askees: list[str],
                   playbook: Playbook) -> list[dict]:
    """The scheduled update; when nobody updated since the last one, it says so and asks by name."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text[:SECTION_LIMIT]))]
    if missed_since is not None:
        who = " ".join(askees) or "Incident Commander and Communications Lead (unassigned)"
        blocks += [
            SectionBlock(text=MarkdownTextObject(
                text=f":warning: No update since {local(playbook, missed_since)}. {who}, please post an update.")),
            ActionsBlock(elements=[ButtonElement(text="Post update", action_id=OPEN_UPDATE,
                                                 value=str(incident.id), style="primary")]),
        ]
    return _dicts(blocks)


def resolved_text(playbook: Playbook, incident: Incident, now: datetime) -> str:
    return (f":white_check_mark: {incident.ref} ({incident.severity}) *{incident.title}* resolved by "
            f"<@{incident.resolved_by}> after {format_duration(now - incident.declared_at)}: "
            f"{incident.resolution_summary}")


def long_text_blocks(text: str) -> list[dict]:
    """Split a long markdown text into section blocks within Slack's limits."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines():
        while len(line) > SECTION_LIMIT:
            chunks.append(current) if current else None
            current = ""
            chunks.append(line[:SECTION_LIMIT])
            line = line[SECTION_LIMIT:]
        if len(current) + len(line) + 1 > SECTION_LIMIT:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return _dicts([SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks if c.strip()][:48])


def declare_modal(playbook: Playbook, *, channel_id: str | None) -> dict:
    options = [Option(text=s.label, value=s.key) for s in playbook.severities.values()]
    view = View(
        type="modal", callback_id=DECLARE_VIEW, title=PlainTextObject(text="Declare an incident"),
        submit=PlainTextObject(text="Declare"), close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"channel_id": channel_id}),
        blocks=[
            InputBlock(block_id="title", label="Title",
                       element=PlainTextInputElement(action_id="value", max_length=150,
                                                     placeholder="Checkout is failing")),
            InputBlock(block_id="severity", label="Severity",
                       element=StaticSelectElement(action_id="value", options=options)),
            InputBlock(block_id="description", label="Description", optional=True,
                       element=PlainTextInputElement(action_id="value", multiline=True, max_length=2900)),
        ],
    )
    return view.to_dict()


def update_modal(incident: Incident, previous: StatusUpdate | None) -> dict:
    def text_input(block_id: str, label: str, initial: str, *, multiline: bool = False,
                   optional: bool = False) -> InputBlock:
        return InputBlock(block_id=block_id, label=label, optional=optional,
                          element=PlainTextInputElement(action_id="value", multiline=multiline,
                                                        initial_value=initial or None, max_length=2900))

    status_options = [Option(text=s, value=s) for s in STATUSES]
    current = previous.status if previous and previous.status in STATUSES else None
    view = View(
        type="modal", callback_id=UPDATE_VIEW, title=PlainTextObject(text=f"Update {incident.ref}"),
        submit=PlainTextObject(text="Post update"), close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"incident_id": incident.id}),
        blocks=[
            InputBlock(block_id="status", label="Current status",
                       element=StaticSelectElement(
                           action_id="value", options=status_options,
                           initial_option=Option(text=current, value=current) if current else None)),
            text_input("impact", "Impact", previous.impact if previous else "", multiline=True),
            text_input("actions", "Actions", previous.actions if previous else "", multiline=True),
            text_input("eta", "ETA", previous.eta if previous else "", optional=True),
        ],
    )
    return view.to_dict()


def status_text(playbook: Playbook, incident: Incident, roles: dict[str, str], update: StatusUpdate | None,
                progress: Progress, now: datetime) -> str:
    severity = playbook.severity(incident.severity)
    phase = playbook.phase(incident.phase)
    lines = [
        f"*{incident.ref} · {severity.label}*: {incident.title}",
        f"Status: *{incident.status}* · phase: *{phase.name if phase else incident.phase}* · "
        f"open for {format_duration((incident.resolved_at or now) - incident.declared_at)}",
        "Acknowledged by " + (f"<@{incident.acknowledged_by}>" if incident.acknowledged_by else "nobody yet"),
        "Roles: " + ", ".join(f"{r.name} " + (f"<@{roles[r.key]}>" if r.key in roles else "_unclaimed_")
                              for r in playbook.roles),
        f"Checklist: {progress} ({progress.phase_done}/{progress.phase_total} in this phase)",
        f"Escalation level: {incident.escalation_level or 'none yet'}",
    ]
    if update:
        lines.append(f"Latest update ({local(playbook, update.at)}): {update.status}; {update.actions}")
    if incident.next_update_at:
        lines.append(f"Next update due {local(playbook, incident.next_update_at)}")
    return "\n".join(lines)


def list_text(playbook: Playbook, incidents: list[Incident], now: datetime) -> str:
    if not incidents:
        return "No open incidents."
    return "*Open incidents*\n" + "\n".join(
        f"• {i.ref} *{i.severity}* {i.title} · " + (f"<#{i.channel_id}>" if i.channel_id else "channel pending")
        + f" · open {format_duration(now - i.declared_at)}" for i in incidents)
