"""``changes.yaml``: change management (procedures 5.2) — the three categories with who approves
each and how long a change must wait, the approvals checklist with who may tick each item, the
testing plan offered in the request form, and where requests are announced."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from playbooks.common import ChannelName, PackModel, Target
from playbooks.durations import Duration

CATEGORY_KEYS = ("standard", "normal", "emergency")
Approval = Literal["automatic", "before_start", "retroactive"]


class ChangeCategory(PackModel):
    name: str
    definition: str = ""
    approval: Approval
    """``automatic``: approved on request. ``before_start``: approved before it may start.
    ``retroactive``: may start at once; the approval is owed and reminded until recorded."""
    approver_label: str = ""
    """What the procedures call the approver, e.g. Team Lead."""
    approvers: tuple[Target, ...] = ()
    """Slack user IDs or user groups (``@team-leads``); never the requester."""
    lead_time: Duration = timedelta(0)
    """How long after the request the change may start, at the earliest."""
    remind_every: Duration | None = None
    """For retroactive approval: how often the named approver is reminded until they approve."""
    examples: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ChangeCategory:
        if self.approval != "automatic" and not self.approvers:
            raise ValueError(f"approval {self.approval!r} needs at least one approver")
        if self.approval == "retroactive" and self.remind_every is None:
            raise ValueError("retroactive approval needs remind_every (how often to remind the approver)")
        if self.remind_every is not None and self.remind_every < timedelta(minutes=1):
            raise ValueError("remind_every must be at least 1m")
        return self


class ApprovalItem(PackModel):
    """One line of the request's approvals checklist (Technical Lead, Security Review…)."""

    key: str = Field(pattern=r"^[a-z_]+$")
    name: str
    who: tuple[Target, ...] = Field(min_length=1)
    """Who may tick it: user IDs or user groups."""


class ChangeSettings(PackModel):
    channel: ChannelName = "#platform-ops"
    """Where requests are announced; approval buttons and the checklist live in each request's thread."""
    categories: dict[str, ChangeCategory] = {}
    approvals: tuple[ApprovalItem, ...] = ()
    testing: tuple[str, ...] = ()
    """The testing plan's checkboxes in the request form."""

    @field_validator("categories")
    @classmethod
    def _three(cls, value: dict[str, ChangeCategory]) -> dict[str, ChangeCategory]:
        if set(value) != set(CATEGORY_KEYS):
            raise ValueError(f"categories must be exactly {', '.join(CATEGORY_KEYS)}")
        return {key: value[key] for key in CATEGORY_KEYS if key in value}

    @field_validator("approvals")
    @classmethod
    def _distinct(cls, value: tuple[ApprovalItem, ...]) -> tuple[ApprovalItem, ...]:
        keys = [item.key for item in value]
        if len(set(keys)) != len(keys):
            raise ValueError("two approvals items share a key")
        return value

    def category(self, key: str) -> ChangeCategory:
        return self.categories[key]

    def item(self, key: str) -> ApprovalItem | None:
        return next((item for item in self.approvals if item.key == key), None)
