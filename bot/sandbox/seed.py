"""The default sandbox workspace: the people, user groups and channels the operational procedures name."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.sandbox.models import User, UserGroup
from bot.sandbox.state import State
from bot.sandbox.workspace import Workspace

# id, name, real_name (the person's role, which is what the procedures call them by)
PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("U0ALICE", "alice", "on-call engineer"),
    ("U0BOB", "bob", "Platform Ops Lead"),
    ("U0CAROL", "carol", "Security Engineer"),
    ("U0DAVE", "dave", "Team Lead"),
    ("U0ERIN", "erin", "CTO"),
    ("U0FRANK", "frank", "VP of AI"),
    ("U0GRACE", "grace", "Product Owner"),
    ("U0HEIDI", "heidi", "CEO"),
    ("U0IVAN", "ivan", "Legal"),
    ("U0JUDY", "judy", "PR"),
    ("U0KIM", "kim", "engineer"),
    ("U0LEO", "leo", "engineer"),
)

# id, handle (Slack's `handle` has no '@'), name, members
GROUPS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("S0ONCALL", "oncall", "On-call", ("U0ALICE", "U0KIM")),
    ("S0OPSLEAD", "platform-ops-lead", "Platform Ops Lead", ("U0BOB",)),
    ("S0SECURITY", "security", "Security", ("U0CAROL",)),
    ("S0TEAMLEADS", "team-leads", "Team Leads", ("U0DAVE",)),
    ("S0CTO", "cto", "CTO", ("U0ERIN",)),
    ("S0VPAI", "vp-ai", "VP of AI", ("U0FRANK",)),
    ("S0PRODUCT", "product", "Product", ("U0GRACE",)),
    ("S0CEO", "ceo", "CEO", ("U0HEIDI",)),
    ("S0LEGAL", "legal", "Legal", ("U0IVAN",)),
    ("S0PR", "pr", "PR", ("U0JUDY",)),
)

# id, name: public channels every human is in and the bot is not (it must join or be invited)
CHANNELS: tuple[tuple[str, str], ...] = (
    ("C0GENERAL", "general"),
    ("C0INCIDENTS", "incident-response"),
    ("C0PLATFORM", "platform-ops"),
    ("C0ENGINEERING", "engineering"),
    ("C0EXECUTIVE", "executive"),
    ("C0ALERTS", "alerts"),
)


def seed_default(state: State) -> None:
    for user_id, name, real_name in PEOPLE:
        state.users[user_id] = User(user_id, name, real_name)
    for group_id, handle, name, members in GROUPS:
        state.usergroups[group_id] = UserGroup(group_id, handle, name, list(members), created_by="U0BOB")
    humans = [user_id for user_id, _, _ in PEOPLE]
    for channel_id, name in CHANNELS:
        state.add_channel(name, members=humans, creator="U0BOB", channel_id=channel_id)


def default_workspace(clock: Callable[[], float] = time.monotonic) -> Workspace:
    """A fresh seeded workspace; `reset()` brings it back to exactly this. `clock` times trigger ids."""
    return Workspace(seed=seed_default, clock=clock)
