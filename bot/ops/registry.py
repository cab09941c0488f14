"""The operations the executor can run, by name: every module that declares one (with
``bot.ops.operation.operation``) is imported here, and actions.yaml names them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.executor.plan import Lookups, NoLookups, Plan
from bot.ops import command, rollback  # noqa: F401  (they declare operations)
from bot.ops.backup import plans as backup_plans  # noqa: F401
from bot.ops.maintenance import plans as maintenance_plans  # noqa: F401
from bot.ops.operation import OPERATIONS, OpsEnv
from playbooks.actions import Action, ParamValue
from playbooks.models import Playbook
from playbooks.problems import Problem


def operation_problems(playbook: Playbook) -> list[Problem]:
    """Actions naming an operation no module provides: refused at start-up and by ``opsbot check``."""
    known = ", ".join(sorted(OPERATIONS))
    return [Problem("actions.yaml", f"{a.name}.operation", f"no operation {a.operation!r}; operations are {known}")
            for a in playbook.actions.values() if a.operation not in OPERATIONS]


def build_plan(playbook: Playbook, action: Action, params: Mapping[str, ParamValue], now: datetime,
               lookups: Lookups | None = None) -> Plan:
    fn = OPERATIONS.get(action.operation)
    if fn is None:
        raise LookupError(f"no operation {action.operation!r}")
    return fn(params, OpsEnv(playbook, action, now, lookups or NoLookups()))
