"""``actions.yaml`` and ``schedules.yaml``: the only operations the executor will run
(docs/architecture.md, "Guarded execution").

An action names an operation implemented in ``bot/ops``, the parameters Slack users may pass (typed,
with allowed values), its risk and who must approve it, where it may be requested, its lock and its
timeout. A schedule fires an action from a cron expression, through the same approval rules.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, field_validator, model_validator

from playbooks.common import ChannelName, PackModel, Target
from playbooks.durations import Duration

Risk = Literal["low", "high", "critical"]
MIN_APPROVALS: dict[str, int] = {"low": 0, "high": 1, "critical": 2}
ParamValue = str | int | bool


class Parameter(PackModel):
    """A parameter a request may carry, written ``name=value`` in Slack."""

    type: Literal["string", "integer", "boolean", "choice"] = "string"
    description: str = ""
    choices: tuple[str, ...] = ()
    pattern: str | None = None  # a string value must match it whole
    minimum: int | None = None
    maximum: int | None = None
    default: ParamValue | None = None
    required: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Parameter:
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice parameter needs its choices")
        if self.type != "choice" and self.choices:
            raise ValueError("choices are only for type: choice")
        if self.required and self.default is not None:
            raise ValueError("a parameter with a default is not required; drop one of them")
        return self


class Approvals(PackModel):
    """Who may approve and how many must. Approvers are Slack user IDs, user groups (membership is
    checked live on every click) or incident roles (of the incident whose channel the request is in)."""

    count: int | None = Field(default=None, ge=0)  # None: the risk's minimum
    approvers: tuple[Target, ...] = ()
    expire_after: Duration = timedelta(minutes=30)


class Action(PackModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
    description: str
    operation: str = Field(pattern=r"^[a-z][a-z0-9_.]*$")
    parameters: dict[str, Parameter] = {}
    risk: Risk
    approvals: Approvals = Approvals()
    channels: tuple[ChannelName, ...] = ()  # empty: any channel the bot is in
    lock: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")
    timeout: Duration
    dry_run: bool = True  # the request shows the plan; False: it says there is no dry run
    argv: tuple[str, ...] = ()
    """For ``operation: command``: the program and its arguments; an element written ``{name}`` is
    replaced whole by that parameter's value (never split, never given to a shell)."""
    cwd: str | None = Field(default=None, pattern=r"^/")  # for command: working directory (else a scratch folder)
    unavailable: str | None = Field(default=None, min_length=1, max_length=300)
    """Why the action cannot run where this pack is used (the sandbox has no Docker Engine, say):
    every request is refused with this reason, and ``/ops list`` shows it."""

    @property
    def approvals_needed(self) -> int:
        return max(self.approvals.count or 0, MIN_APPROVALS[self.risk])

    @model_validator(mode="after")
    def _approvable(self) -> Action:
        floor = MIN_APPROVALS[self.risk]
        if self.approvals.count is not None and self.approvals.count < floor:
            raise ValueError(f"a {self.risk} action needs at least {floor} approval(s), not {self.approvals.count}")
        if self.approvals_needed and not self.approvals.approvers:
            raise ValueError("approvals are needed, so approvals.approvers must name who may give them")
        if (self.operation == "command") != bool(self.argv):
            raise ValueError("argv is given exactly when operation is command")
        for element in self.argv:
            match = re.fullmatch(r"\{([a-z_][a-z0-9_]*)\}", element)
            if match and match[1] not in self.parameters:
                raise ValueError(f"argv uses {{{match[1]}}}, which is not one of the parameters")
            if match and not (self.parameters[match[1]].required or self.parameters[match[1]].default is not None):
                raise ValueError(f"argv uses {{{match[1]}}}, so that parameter needs a default or required: true")
        return self


class Schedule(PackModel):
    """Fires ``action`` at each time of ``cron`` (five fields, in the pack's time zone)."""

    action: str
    cron: str
    parameters: dict[str, ParamValue] = {}
    description: str = ""

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)


def check_cron(value: str) -> str:
    """Five cron fields (minute hour day month weekday), or a message that says so."""
    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a cron expression (minute hour day month weekday): {exc}") from None
    return value


class ParameterError(ValueError):
    """A request's parameters do not match the declaration; the message is for the requester."""


def resolve_parameters(action: Action, given: dict[str, ParamValue]) -> dict[str, ParamValue]:
    """The declared parameters with defaults filled in and values converted to their types.

    Everything a run receives passes through here, whoever asked (command, button, schedule)."""
    unknown = sorted(set(given) - set(action.parameters))
    if unknown:
        known = ", ".join(sorted(action.parameters)) or "none"
        raise ParameterError(f"`{action.name}` has no parameter {', '.join(unknown)}; its parameters are {known}")
    resolved: dict[str, ParamValue] = {}
    for name, spec in action.parameters.items():
        if name not in given:
            if spec.required:
                raise ParameterError(f"`{action.name}` needs `{name}=…` ({spec.description or spec.type})")
            if spec.default is not None:
                resolved[name] = spec.default
            continue
        resolved[name] = _convert(name, spec, given[name])
    return resolved


def _convert(name: str, spec: Parameter, value: ParamValue) -> ParamValue:
    text = str(value).strip()
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        if text.lower() in ("true", "yes", "on", "1"):
            return True
        if text.lower() in ("false", "no", "off", "0"):
            return False
        raise ParameterError(f"`{name}` is yes or no, not {text[:40]!r}")
    if spec.type == "integer":
        if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]{1,12}", text):
            raise ParameterError(f"`{name}` is a whole number, not {text[:40]!r}")
        number = int(text)
        if spec.minimum is not None and number < spec.minimum:
            raise ParameterError(f"`{name}` is at least {spec.minimum}")
        if spec.maximum is not None and number > spec.maximum:
            raise ParameterError(f"`{name}` is at most {spec.maximum}")
        return number
    if spec.type == "choice":
        if text not in spec.choices:
            raise ParameterError(f"`{name}` is one of {', '.join(spec.choices)}, not {text[:40]!r}")
        return text
    if spec.pattern is not None and not re.fullmatch(spec.pattern, text):
        raise ParameterError(f"`{name}` must match {spec.pattern} ({spec.description or 'see the playbook'})")
    if not text or len(text) > 200:
        raise ParameterError(f"`{name}` must be 1 to 200 characters")
    return text
