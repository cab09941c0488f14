"""Block Kit for alert groups: the triage message (Declare / Acknowledge / Silence), the incident's
alert summary (edited in place, "+N more" beyond what fits), the all-resolved prompt, and the
"Declare incident" offer under a Slack alert integration's message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.incidents.views import person
from bot.slack.people import who
from playbooks.models import Playbook
from storage.alerts import Alert, AlertGroup
from storage.models import Incident

DECLARE = "alerts_declare"
ACKNOWLEDGE = "alerts_acknowledge"
SILENCE = "alerts_silence"
RESOLVE_INCIDENT = "alerts_resolve_incident"
SHOWN = 10  # alerts listed in a message; the rest are "+N more"
SLACK_OFFER = "Is this an incident? Declare it and a channel is set up with the responders."
_TEXT_LIMIT = 2900


@dataclass(frozen=True)
class GroupState:
    """What a message about a group shows, read from the database by the pump."""

    group: AlertGroup
    firing: list[Alert]  # at most SHOWN, newest first
    firing_count: int
    resolved_count: int


def stamp(playbook: Playbook, when: datetime | None) -> str:
    return when.astimezone(playbook.settings.zone).strftime("%Y-%m-%d %H:%M %Z") if when else "—"


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:_TEXT_LIMIT]}}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    button = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def note_blocks(text: str) -> list[dict]:
    return [_section(text)]


def _headline(state: GroupState) -> str:
    g = state.group
    icon = ":large_green_circle:" if state.firing_count == 0 else ":red_circle:"
    status = "all resolved" if state.firing_count == 0 else f"{state.firing_count} firing"
    if state.resolved_count:
        status += f", {state.resolved_count} resolved"
    return f"{icon} *{g.title}* ({g.severity}, {g.source}): {status}"


def _alert_lines(state: GroupState) -> str:
    lines = []
    for a in state.firing[:SHOWN]:
        text = f"• *{a.name or a.fingerprint}*" + (f": {a.summary}" if a.summary else "")
        lines.append(text)
    more = max(0, state.firing_count - len(lines)) + state.group.truncated
    if more:
        lines.append(f"+{more} more")
    return "\n".join(lines)


def summary_text(state: GroupState) -> str:
    body = _alert_lines(state)
    return f"{_headline(state)}\n{body}" if body else _headline(state)


def triage_blocks(state: GroupState, playbook: Playbook) -> list[dict]:
    g = state.group
    blocks = [_section(summary_text(state))]
    if g.triage == "acknowledged":
        blocks.append(_context(f"Acknowledged by {who(g.triage_by)}"))
    elif g.triage == "silenced":
        blocks.append(_context(f"Silenced by {who(g.triage_by)} until {stamp(playbook, g.silenced_until)}"))
    if g.link:
        blocks.append(_context(f"From <{g.link}|{g.source}>"))
    if g.status == "firing":
        value = str(g.id)
        buttons = [_button("Declare incident", DECLARE, value, "danger")]
        if g.triage == "pending":
            buttons.append(_button("Acknowledge", ACKNOWLEDGE, value))
        if g.triage != "silenced":
            buttons.append(_button("Silence", SILENCE, value))
        blocks.append({"type": "actions", "block_id": f"alert_triage_{g.id}", "elements": buttons})
    return blocks


def summary_blocks(state: GroupState, incident: Incident) -> list[dict]:
    return [_section(summary_text(state)),
            _context(f"Alert summary for {incident.ref}: edited as alerts change, not reposted")]


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:_TEXT_LIMIT]}]}


def declared_text(group: AlertGroup, incident: Incident, by: str) -> str:
    return f":rotating_light: *{group.title}* was declared as {incident.ref} by {person(by)}."


def resolve_prompt_text(group: AlertGroup) -> str:
    return f":white_check_mark: All alerts resolved ({group.title}). Resolve the incident?"


def resolve_prompt_blocks(group: AlertGroup, incident: Incident) -> list[dict]:
    return [_section(resolve_prompt_text(group)),
            {"type": "actions", "block_id": f"alert_resolve_{incident.id}",
             "elements": [_button("Resolve incident", RESOLVE_INCIDENT, str(incident.id), "primary")]}]


def slack_offer_blocks(group: AlertGroup) -> list[dict]:
    return [_section(SLACK_OFFER),
            {"type": "actions", "block_id": f"alert_offer_{group.id}",
             "elements": [_button("Declare incident", DECLARE, str(group.id), "danger")]}]
