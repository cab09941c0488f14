"""Block Kit and texts for change requests: the request form, the announcement (the seed's
template), the buttons in its thread, `/change show` and `/change list`. Rendering only."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DividerBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.changes.forms import IMPACTS, MAX_TEXT, PRIORITIES, RISKS
from bot.incidents.views import local as _local
from bot.incidents.views import long_text_blocks
from bot.slack.people import who
from playbooks.changes import ChangeCategory
from playbooks.durations import format_duration
from playbooks.models import Playbook
from storage.changes import APPROVED, IN_PROGRESS, REQUESTED, ChangeApproval, ChangeEvent, ChangeRequest

REQUEST_VIEW = "change_request"
APPROVE = "change_approve"
TICK = "change_tick"
START = "change_start"
DONE = "change_done"
ROLLBACK = "change_rollback"
STATUS = {"requested": "requested", "approved": "approved", "in_progress": "in progress", "done": "done",
          "rolled_back": "rolled back"}


def escape(text: str) -> str:
    """Typed text shown as typed: no ``<!channel>`` pings or fake links from a request form."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def local(playbook: Playbook, when: datetime) -> str:
    return _local(playbook, when, "%Y-%m-%d %H:%M %Z")


def duration(value: timedelta) -> str:
    return format_duration(value)


def action_value(cr: ChangeRequest, key: str = "") -> str:
    return f"{cr.id}:{key}" if key else str(cr.id)


def parse_action_value(value: str) -> tuple[int, str] | None:
    head, _, key = value.partition(":")
    return (int(head), key) if head.isdigit() else None


def incident_ref(incident_id: int) -> str:
    return f"INC-{incident_id:04d}"


# -- the form --------------------------------------------------------------------------------------
def request_modal(playbook: Playbook) -> dict:
    settings = playbook.changes

    def opts(values: Iterable[str]) -> list[Option]:
        return [Option(text=v, value=v) for v in values]

    def text(block: str, label: str, *, multiline: bool = False, optional: bool = False, hint: str = "") -> InputBlock:
        return InputBlock(block_id=block, label=label, optional=optional, hint=hint or None,
                          element=PlainTextInputElement(action_id="value", multiline=multiline,
                                                        max_length=MAX_TEXT))

    def select(block: str, label: str, options: list[Option]) -> InputBlock:
        return InputBlock(block_id=block, label=label, element=StaticSelectElement(action_id="value", options=options))

    categories = [Option(text=c.name, value=key, description=(c.definition[:75] or None))  # Slack's limit
                  for key, c in settings.categories.items()]
    blocks: list[Block] = [
        select("category", "Category", categories),
        select("priority", "Priority", opts(PRIORITIES)),
        text("description", "Description: what is being changed and why", multiline=True),
        text("systems", "Systems affected"),
        select("user_impact", "User impact", opts(IMPACTS)),
        InputBlock(block_id="downtime", label="Downtime required",
                   element=RadioButtonsElement(action_id="value", options=[Option(text="Yes", value="yes"),
                                                                           Option(text="No", value="no")])),
        text("downtime_duration", "Downtime duration", optional=True, hint="Like 30m or 2h; only with downtime."),
        select("risk", "Risk level", opts(RISKS)),
        text("implementation_plan", "Implementation plan", multiline=True, hint="One step per line."),
        text("rollback_plan", "Rollback plan: how to revert if issues occur", multiline=True),
    ]
    if settings.testing:
        blocks.append(InputBlock(block_id="testing", label="Testing plan", optional=True,
                                 element=CheckboxesElement(action_id="value", options=opts(settings.testing))))
    blocks.append(InputBlock(block_id="approver", label="Verbal approval given by (emergency changes)",
                             optional=True, hint="Reminded until they record the approval in the request's thread.",
                             element=UserSelectElement(action_id="value")))
    view = View(type="modal", callback_id=REQUEST_VIEW, title=PlainTextObject(text="Change request"),
                submit=PlainTextObject(text="Submit"), close=PlainTextObject(text="Cancel"),
                blocks=blocks)
    return view.to_dict()


# -- the request -----------------------------------------------------------------------------------
def announcement_text(cr: ChangeRequest, kind: ChangeCategory) -> str:
    return f"Change request {cr.number} ({kind.name}, {STATUS[cr.status]}) by <@{cr.requested_by}>"


def request_text(playbook: Playbook, cr: ChangeRequest, ticked: Iterable[str]) -> str:
    """The seed's change request template, filled in."""
    kind = playbook.changes.category(cr.category)
    tested = set(json.loads(cr.testing or "[]"))
    done = set(ticked)
    steps = [escape(line.strip()) for line in cr.implementation_plan.splitlines() if line.strip()]
    lines = [
        f"*Change Request #{cr.number}*", "",
        "*Change Details*",
        f"• *Requestor*: <@{cr.requested_by}>",
        f"• *Date*: {_local(playbook, cr.requested_at, '%Y-%m-%d')}",
        f"• *Category*: {kind.name}",
        f"• *Priority*: {cr.priority}", "",
        "*Description*", escape(cr.description), "",
        "*Impact Analysis*",
        f"• *Systems Affected*: {escape(cr.systems)}",
        f"• *User Impact*: {cr.user_impact}",
        "• *Downtime Required*: " + (f"Yes - {cr.downtime_duration}" if cr.downtime else "No"),
        f"• *Risk Level*: {cr.risk}", "",
        "*Implementation Plan*",
        *[f"{n}. {step}" for n, step in enumerate(steps, 1)], "",
        "*Rollback Plan*", escape(cr.rollback_plan), "",
        "*Testing Plan*",
        *[f"{'☑' if item in tested else '☐'} {item}" for item in playbook.changes.testing], "",
        "*Approvals*",
        *[f"{'☑' if item.key in done else '☐'} {item.name}" for item in playbook.changes.approvals],
    ]
    return "\n".join(lines)


def status_line(playbook: Playbook, cr: ChangeRequest) -> str:
    parts = [f"Status: *{STATUS[cr.status]}*"]
    if cr.approved_by:
        parts.append(f"approved by {who(cr.approved_by)}")
    if cr.approval_owed:
        parts.append(f":warning: approval owed by <@{cr.named_approver}>")
    if cr.incident_id:
        parts.append(f"incident {incident_ref(cr.incident_id)}")
    if cr.maintenance_window_id:
        parts.append(f"maintenance window MW-{cr.maintenance_window_id}")
    return " · ".join(parts)


def request_blocks(playbook: Playbook, cr: ChangeRequest, ticked: Iterable[str]) -> list[dict]:
    return [*long_text_blocks(request_text(playbook, cr, ticked)),
            ContextBlock(elements=[MarkdownTextObject(text=status_line(playbook, cr))]).to_dict()]


def controls_blocks(playbook: Playbook, cr: ChangeRequest, ticks: Mapping[str, ChangeApproval],
                    now: datetime) -> list[dict]:
    """The request's thread: approval, the approvals checklist (who ticked, when) and the next step."""
    kind = playbook.changes.category(cr.category)
    blocks: list[Block] = []
    if kind.approval == "automatic":
        approval = f"*Approval*: automatic ({kind.name} change)"
    elif cr.approved_by and not cr.approval_owed:
        approval = f"*Approval*: ✅ {who(cr.approved_by)} at {local(playbook, cr.approved_at or now)}"
    elif cr.approval_owed:
        approval = (f"*Approval owed*: verbal approval by <@{cr.named_approver}>, to be recorded here "
                    f"({kind.approver_label or 'approvers'}: {_targets(kind.approvers)})")
    else:
        approval = f"*Approval*: needs a {kind.approver_label or 'approver'} ({_targets(kind.approvers)})"
    needs_click = kind.approval != "automatic" and (cr.approval_owed or not cr.approved_by)
    blocks.append(SectionBlock(block_id="approval", text=MarkdownTextObject(text=approval),
                               accessory=ButtonElement(text="Approve", action_id=APPROVE, value=action_value(cr),
                                                       style="primary") if needs_click else None))
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text="*Approvals checklist*"))]
    for item in playbook.changes.approvals:
        tick = ticks.get(item.key)
        mark = (f"☑ {item.name}: <@{tick.user_id}> at {local(playbook, tick.at)}" if tick
                else f"☐ {item.name} ({_targets(item.who)})")
        blocks.append(SectionBlock(block_id=f"item_{item.key}", text=MarkdownTextObject(text=mark),
                                   accessory=None if tick else ButtonElement(
                                       text="Tick", action_id=TICK, value=action_value(cr, item.key))))
    steps = []
    if cr.status == APPROVED or (cr.status == REQUESTED and kind.approval == "retroactive"):
        steps.append(ButtonElement(text="Start", action_id=START, value=action_value(cr), style="primary"))
    if cr.status == IN_PROGRESS:
        steps += [ButtonElement(text="Done", action_id=DONE, value=action_value(cr), style="primary"),
                  ButtonElement(text="Rolled back", action_id=ROLLBACK, value=action_value(cr), style="danger")]
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=status_line(playbook, cr))]))
    if cr.status == APPROVED and kind.lead_time and now < cr.requested_at + kind.lead_time:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"May start from {local(playbook, cr.requested_at + kind.lead_time)} (lead time)")]))
    if steps:
        blocks.append(ActionsBlock(block_id="steps", elements=steps))
    return [b.to_dict() for b in blocks]


def _targets(targets: Iterable[str]) -> str:
    return ", ".join(t if t.startswith("@") else f"<@{t}>" for t in targets) or "nobody"


def approval_owed_text(playbook: Playbook, cr: ChangeRequest, *, first: bool) -> str:
    kind = playbook.changes.category(cr.category)
    lead = "Emergency change" if first else "Reminder: emergency change"
    state = "names you as its verbal approval" if first else f"is {STATUS[cr.status]} and still owes your approval"
    return (f"{lead} {cr.number} by <@{cr.requested_by}> {state}, <@{cr.named_approver}>. "
            f"Please record the approval with *Approve* in the request's thread in {playbook.changes.channel} "
            f"({kind.approver_label or 'approvers'}: {_targets(kind.approvers)}).")


# -- show / list ------------------------------------------------------------------------------------
def show_text(playbook: Playbook, cr: ChangeRequest, ticks: Mapping[str, ChangeApproval],
              events: list[ChangeEvent]) -> str:
    lines = [request_text(playbook, cr, ticks), "", status_line(playbook, cr), "", "*Timeline*"]
    lines += [f"• {local(playbook, e.at)} — {e.text}" + ("" if e.author in e.text else f" ({who(e.author)})")
              for e in events]
    return "\n".join(lines)


def list_text(playbook: Playbook, changes: list[ChangeRequest]) -> str:
    if not changes:
        return "No change requests yet. `/change request` opens the form."
    lines = ["*Change requests*"]
    for cr in changes:
        kind = playbook.changes.category(cr.category)
        owed = " · :warning: approval owed" if cr.approval_owed else ""
        summary = escape((cr.description.splitlines() or [""])[0][:80])
        lines.append(f"• *{cr.number}* {kind.name} · {STATUS[cr.status]}{owed} · {summary} (<@{cr.requested_by}>)")
    return "\n".join(lines)


def incident_notice(playbook: Playbook, cr: ChangeRequest) -> str:
    return f"🔗 This incident is linked to change {incident_line(playbook, cr)}"


def incident_line(playbook: Playbook, cr: ChangeRequest) -> str:
    """How an incident's brief and post-mortem name a change that caused it."""
    kind = playbook.changes.category(cr.category)
    summary = escape((cr.description.splitlines() or [""])[0][:120])
    return (f"{cr.number} ({kind.name}, {STATUS[cr.status]}, requested by <@{cr.requested_by}>"
            + (f", started {local(playbook, cr.started_at)}" if cr.started_at else "") + f"): {summary}")
