"""What a change request is made of at the boundary: the request form's fields, validated into a
``ChangeForm`` or a set of per-field errors for the modal (nothing is stored on an error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.slack import view_state
from playbooks.changes import ChangeSettings
from playbooks.durations import parse_duration

PRIORITIES = ("High", "Medium", "Low")
IMPACTS = ("None", "Minimal", "Significant")
RISKS = ("Low", "Medium", "High")
MAX_TEXT = 2900  # under Slack's 3000-character section limit, so the request renders whole


@dataclass(frozen=True)
class ChangeForm:
    category: str
    priority: str
    description: str
    systems: str
    user_impact: str
    downtime: bool
    downtime_duration: str
    risk: str
    implementation_plan: str
    rollback_plan: str
    testing: tuple[str, ...]
    named_approver: str | None


def parse_form(values: dict[str, Any], settings: ChangeSettings, requester: str) -> ChangeForm | dict[str, str]:
    """The modal's ``state.values`` as a form, or ``{block_id: message}`` for every field that is wrong."""
    errors: dict[str, str] = {}

    def text(block: str, what: str, *, required: bool = True) -> str:
        value = view_state.text(values, block).strip()
        if required and not value:
            errors[block] = f"Describe the {what}."
        elif len(value) > MAX_TEXT:
            errors[block] = f"Keep the {what} under {MAX_TEXT} characters."
        return value

    def choice(block: str, allowed: tuple[str, ...], what: str) -> str:
        value = view_state.selected(values, block)
        if value not in allowed:
            errors[block] = f"Pick the {what}."
        return value

    category = choice("category", tuple(settings.categories), "category")
    priority = choice("priority", PRIORITIES, "priority")
    description = text("description", "change and why it is made")
    systems = text("systems", "systems affected")
    impact = choice("user_impact", IMPACTS, "user impact")
    downtime = choice("downtime", ("yes", "no"), "whether downtime is required") == "yes"
    duration = text("downtime_duration", "downtime", required=False)
    if downtime and "downtime" not in errors:
        try:
            parse_duration(duration)
        except ValueError:
            errors["downtime_duration"] = "Say how long the downtime lasts, like 30m or 2h."
    elif duration and not downtime:
        errors["downtime_duration"] = "No downtime was chosen; leave the duration empty or choose Yes."
    risk = choice("risk", RISKS, "risk level")
    plan = text("implementation_plan", "implementation plan")
    rollback = text("rollback_plan", "rollback plan")
    ticked = view_state.selected_values(values, "testing")
    testing = tuple(item for item in settings.testing if item in ticked)  # in the playbook's order, only its items
    approver = view_state.selected_user(values, "approver") or None
    if category in settings.categories and settings.category(category).approval == "retroactive":
        if not approver:
            errors["approver"] = "Emergency changes name who gave the verbal approval; they are reminded to record it."
        elif approver == requester:
            errors["approver"] = "You cannot approve your own change; name who gave the verbal approval."
    if errors:
        return errors
    return ChangeForm(category=category, priority=priority, description=description, systems=systems,
                      user_impact=impact, downtime=downtime, downtime_duration=duration if downtime else "",
                      risk=risk, implementation_plan=plan, rollback_plan=rollback, testing=testing,
                      named_approver=approver if settings.category(category).approval == "retroactive" else None)

