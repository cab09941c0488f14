"""The Home tab as Block Kit: rendering only, no rules, no I/O.

Slack takes at most 100 blocks in a Home tab. The fixed sections (one header and one section of
lines each) come first; each list says how many more there are when it is cut; the approvals,
which need a row of buttons each, get the blocks that are left. Slack's mrkdwn has no colour, so
a late update says so in words, with an emoji.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.changes.views import STATUS as CHANGE_STATUS
from bot.followups.views import line as followup_line
from bot.home.service import Home, OpenIncident, WaitingChange, WaitingRun
from bot.incidents.views import person
from bot.slack.people import who
from playbooks.durations import format_duration
from playbooks.models import Playbook

APPROVE_RUN = "home_run_approve"
DENY_RUN = "home_run_deny"
APPROVE_CHANGE = "home_change_approve"
CALLBACK_ID = "opsbot_home"
BLOCK_LIMIT = 100
SECTION_CHARS = 2900  # Slack's 3000 for a section's text, with room for the "more" line
LINES = 15  # at most this many lines in one list


def escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def lines_text(lines: Sequence[str], *, empty: str, noun: str) -> str:
    """Lines up to ``LINES`` and ``SECTION_CHARS``, then "…and N more <noun>"."""
    if not lines:
        return f"_{empty}_"
    shown: list[str] = []
    size = 0
    for line in lines:
        if len(shown) == LINES or size + len(line) + 1 > SECTION_CHARS:
            break
        shown.append(line)
        size += len(line) + 1
    more = len(lines) - len(shown)
    if more:
        shown.append(f"_…and {more} more {noun}._")
    return "\n".join(shown)


def local(playbook: Playbook, when: datetime, now: datetime) -> str:
    zone = playbook.settings.zone
    shown = when.astimezone(zone)
    return shown.strftime("%H:%M %Z" if shown.date() == now.astimezone(zone).date() else "%a %d %b %H:%M %Z")


def update_words(playbook: Playbook, item: OpenIncident, now: datetime) -> str:
    """When the next status update is due, and a late one said in words (mrkdwn has no red)."""
    due, late = item.next_update_at, item.overdue_since
    if late is not None:
        return f":red_circle: *update overdue* by {format_duration(now - late)} (was due {local(playbook, late, now)})"
    if due is None:
        return "updates as needed"
    return f"next update {local(playbook, due, now)} (in {format_duration(due - now)})"


def incident_line(playbook: Playbook, item: OpenIncident, now: datetime, *, roles: bool = False) -> str:
    incident = item.incident
    where = f"<#{incident.channel_id}>" if incident.channel_id else "_channel being set up_"
    commander = f"IC {who(item.commander)}" if item.commander else ":warning: no Incident Commander"
    held = f" · you are {', '.join(item.roles)}" if roles and item.roles else ""
    return (f"*{incident.ref}* {item.label} · {escaped(incident.title)} · {where} · "
            f"open {format_duration(now - incident.declared_at)} · {commander} · "
            f"{update_words(playbook, item, now)}{held}")


def run_blocks(item: WaitingRun, now: datetime) -> list[dict]:
    run = item.run
    expires = f" · expires in {format_duration(run.expires_at - now)}" if run.expires_at else ""
    text = (f"*Run #{run.id}* `{run.action}` ({run.risk} risk) requested by {who(run.requested_by)}{expires}\n"
            f"{escaped(item.description)}")
    return [_section(text[:SECTION_CHARS]), {"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "action_id": APPROVE_RUN,
         "value": str(run.id), "style": "primary"},
        {"type": "button", "text": {"type": "plain_text", "text": "Deny"}, "action_id": DENY_RUN,
         "value": str(run.id), "style": "danger"},
    ]}]


def change_blocks(item: WaitingChange) -> list[dict]:
    cr = item.change
    what = "approval owed (the change may already be under way)" if item.owed else "needs approval before it starts"
    text = (f"*{cr.number}* {item.kind} change by {who(cr.requested_by)}: {what}\n"
            f"{escaped(cr.description.splitlines()[0] if cr.description else '')}")
    return [_section(text[:SECTION_CHARS]), {"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "action_id": APPROVE_CHANGE,
         "value": str(cr.id), "style": "primary"},
    ]}]


def home_view(playbook: Playbook, home: Home, notice: str | None = None) -> dict:
    now = home.now
    blocks: list[dict] = []
    if notice:
        blocks.append(_section(notice[:SECTION_CHARS]))
    blocks += [
        _header("Your incidents"),
        _section(lines_text([incident_line(playbook, i, now, roles=True) for i in home.mine],
                            empty="You hold no role in an open incident.", noun="incidents")),
        _header(f"Open incidents ({len(home.open)})"),
        _section(lines_text([incident_line(playbook, i, now) for i in home.open],
                            empty="No open incidents.", noun="open incidents")),
        {"type": "divider"},
        _header("Waiting for your approval"),
    ]
    tail = [
        {"type": "divider"},
        _header("Your change requests"),
        _section(lines_text([f"*{cr.number}* {escaped(cr.description.splitlines()[0] if cr.description else '')}"
                             f" · {CHANGE_STATUS[cr.status]}" for cr in home.my_changes],
                            empty="You have no change requests open.", noun="change requests")),
        _header("Your follow-ups"),
        _section(lines_text([followup_line(f, home.refs.get(f.incident_id, ""), home.today, owner=False)
                             for f in home.followups], empty="No open follow-ups.", noun="follow-ups")),
        _header("Maintenance windows"),
        _section(lines_text([f"*MW-{w.id}* {escaped(w.title)} · {local(playbook, w.starts_at, now)} → "
                             f"{local(playbook, w.ends_at, now)}" for w in home.windows],
                            empty="None scheduled in the next seven days.", noun="windows")),
        _header("On call now"),
        _section(lines_text([f"{group.handle}: {', '.join(person(u) for u in group.members) or '_nobody_'}"
                             for group in home.on_call], empty="No on-call group is named.", noun="groups")),
        _context(f"Updated {local(playbook, now, now)}. Opening this tab again refreshes it."),
    ]
    waiting = [run_blocks(r, now) for r in home.runs] + [change_blocks(c) for c in home.changes_to_approve]
    room = BLOCK_LIMIT - len(blocks) - len(tail)
    if not waiting:
        blocks.append(_section("_Nothing is waiting for you._"))
    else:
        fits = []
        for item in waiting:
            if sum(map(len, fits)) + len(item) > room - 1:  # one block kept for the "more" line
                break
            fits.append(item)
        for item in fits:
            blocks += item
        more = len(waiting) - len(fits)
        if more:
            blocks.append(_context(f"…and {more} more waiting for you: approve them in their threads."))
    return {"type": "home", "callback_id": CALLBACK_ID, "blocks": blocks + tail}
