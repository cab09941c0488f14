"""The operations the executor can run, registered by name with ``@operation("backup.run")``.

An operation turns validated parameters into a Plan. Building the plan must not change anything:
the same call makes the dry run shown to approvers and the plan that is executed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.executor.plan import Lookups, NoLookups, Plan
from playbooks.actions import Action, ParamValue
from playbooks.models import Playbook
from playbooks.problems import Problem


@dataclass(frozen=True)
class OpsEnv:
    playbook: Playbook
    action: Action
    now: datetime
    lookups: Lookups = NoLookups()


Operation = Callable[[Mapping[str, ParamValue], OpsEnv], Plan]
_OPERATIONS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    def register(fn: Operation) -> Operation:
        if name in _OPERATIONS:
            raise RuntimeError(f"operation {name} is registered twice")
        _OPERATIONS[name] = fn
        return fn

    return register


def lookup(name: str) -> Operation | None:
    _load_all()
    return _OPERATIONS.get(name)


def names() -> list[str]:
    _load_all()
    return sorted(_OPERATIONS)


def operation_problems(playbook: Playbook) -> list[Problem]:
    """Actions naming an operation no module provides: refused at start-up and by ``opsbot check``."""
    _load_all()
    known = ", ".join(sorted(_OPERATIONS))
    return [Problem("actions.yaml", f"{a.name}.operation", f"no operation {a.operation!r}; operations are {known}")
            for a in playbook.actions.values() if a.operation not in _OPERATIONS]


def build_plan(playbook: Playbook, action: Action, params: Mapping[str, ParamValue], now: datetime,
               lookups: Lookups | None = None) -> Plan:
    fn = lookup(action.operation)
    if fn is None:
        raise LookupError(f"no operation {action.operation!r}")
    return fn(params, OpsEnv(playbook, action, now, lookups or NoLookups()))


def _load_all() -> None:
    """Import the modules that register operations (not at import of this module: they import it)."""
    from bot.ops import command, rollback  # noqa: F401
    from bot.ops.backup import plans  # noqa: F401
    from bot.ops.maintenance import plans as maintenance_plans  # noqa: F401
