"""Who may approve a run: the one rule every approval passes through, whatever path it took.

People are Slack user IDs (immutable), never names. User-group membership is read live from Slack
on every click, so someone removed from @platform-ops-lead a minute ago can no longer approve."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.refusal import Refusal
from bot.slack.directory import Directory
from playbooks.actions import Action


@dataclass(frozen=True)
class Approver:
    user_id: str
    requester: str
    incident_roles: dict[str, str]  # role key -> user ID, of the incident the run was requested in


def check_approver(action: Action, who: Approver, directory: Directory) -> None:
    if who.user_id == who.requester:
        raise Refusal("You requested this run, so your approval does not count; someone else must approve.")
    if not is_allowed(action.approvals.approvers, who, directory):
        raise Refusal(
            f"Only {describe(action.approvals.approvers)} may approve `{action.name}`; you are not one of them."
        )


def is_allowed(approvers: Iterable[str], who: Approver, directory: Directory) -> bool:
    for target in approvers:
        if target.startswith("role:"):
            if who.incident_roles.get(target[5:]) == who.user_id:
                return True
        elif target.startswith("@"):
            if who.user_id in directory.group_members(target):
                return True
        elif target == who.user_id:
            return True
    return False


def describe(approvers: Iterable[str]) -> str:
    shown = []
    for target in approvers:
        if target.startswith("role:"):
            shown.append(f"the incident's {target[5:].replace('_', ' ')}")
        elif target.startswith("@"):
            shown.append(f"members of {target}")
        else:
            shown.append(f"<@{target}>")
    return ", ".join(shown) or "nobody"
