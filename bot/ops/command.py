"""``operation: command``: one declared program, its arguments filled from parameters element by
element (a value is one argv element, never split and never given to a shell)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from bot.executor.plan import Plan, Step, StepContext
from bot.ops.operation import OpsEnv, operation
from playbooks.actions import ParamValue

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@operation("command")
def command(params: Mapping[str, ParamValue], env: OpsEnv) -> Plan:
    argv = tuple(_fill(element, params) for element in env.action.argv)

    cwd = Path(env.action.cwd) if env.action.cwd else None

    def run(ctx: StepContext) -> None:
        result = ctx.runner.process(argv, cwd=cwd or ctx.workdir)
        if result.output.strip():
            ctx.note(result.output.strip().splitlines()[-1][:200])

    where = f" in {cwd}" if cwd else ""
    return Plan(steps=(Step(title="run " + " ".join(_shown(a) for a in argv) + where, action=run),))


def _fill(element: str, params: Mapping[str, ParamValue]) -> str:
    match = _PLACEHOLDER.fullmatch(element)
    if not match:
        return element
    value = params.get(match[1])
    if value is None:
        raise LookupError(f"parameter {match[1]} has no value")
    return str(value)


def _shown(arg: str) -> str:
    return arg if re.fullmatch(r"[A-Za-z0-9_./:=@%+-]+", arg) else repr(arg)
