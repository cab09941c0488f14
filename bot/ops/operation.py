"""What an operation is, and how a module declares one: ``@operation("backup.run")`` on a function
that turns validated parameters into a Plan. Building the plan must not change anything: the same
call makes the dry run shown to approvers and the plan that is executed.

A leaf module: the modules that declare operations import this, and ``bot.ops.registry`` imports
them, so nothing imports in a circle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.executor.plan import Lookups, NoLookups, Plan
from playbooks.actions import Action, ParamValue
from playbooks.models import Playbook


@dataclass(frozen=True)
class OpsEnv:
    playbook: Playbook
    action: Action
    now: datetime
    lookups: Lookups = NoLookups()


Operation = Callable[[Mapping[str, ParamValue], OpsEnv], Plan]
OPERATIONS: dict[str, Operation] = {}
"""Every declared operation by name, filled as the declaring modules are imported."""


def operation(name: str) -> Callable[[Operation], Operation]:
    def register(fn: Operation) -> Operation:
        if name in OPERATIONS:
            raise RuntimeError(f"operation {name} is registered twice")
        OPERATIONS[name] = fn
        return fn

    return register
