"""Typed playbook pack: what every layer of the bot reads instead of raw YAML.

Each field of ``Playbook`` is one file of the pack (``settings`` is ``settings.yaml``, see
``playbooks.loader.FILES``); ``extra="forbid"`` turns a typo in a key into an error that names the
file and the key rather than a setting silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import pairwise
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from playbooks.actions import Action, ParameterError, Schedule, check_cron, resolve_parameters
from playbooks.alerts import AlertSettings
from playbooks.backups import BackupSettings
from playbooks.changes import ChangeSettings
from playbooks.common import ChannelName, PackModel, Target, TimeZoneName
from playbooks.durations import Duration, format_duration
from playbooks.maintenance import MaintenanceSettings
from playbooks.oncall import OncallSettings
from playbooks.paging import PagingSettings
from playbooks.public import PublicSettings
from playbooks.record import RecordSettings
from playbooks.rollback import RollbackSettings
from playbooks.templates import check_template
from playbooks.windows import WindowSettings

SEVERITY_KEYS = ("P0", "P1", "P2", "P3")


class PackSettings(PackModel):
    """``settings.yaml``: where the bot talks and in which time zone channel names are stamped."""

    timezone: TimeZoneName = "UTC"
    incidents_channel: ChannelName = "#incident-response"
    channel_prefix: str = Field(default="incident", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    operations_channel: ChannelName = "#platform-ops"  # run failures and scheduled runs' outcomes
    reports_channel: ChannelName | None = "#platform-ops"  # the weekly report digest; null: no digest
    weekly_digest: str = "0 9 * * mon"  # when the digest is posted (cron, in this time zone)

    @field_validator("weekly_digest")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Severity(PackModel):
    """One entry of ``severities.yaml``, keyed P0–P3."""

    key: str
    name: str
    definition: str
    examples: list[str] = []
    response_time: Duration
    update_every: Duration | None = None  # None: updates "as needed", no cadence reminders
    escalation_starts_at: int | None = Field(default=None, ge=1)  # None: no escalation
    responders: list[Target] = []
    stakeholder_channels: list[ChannelName] = []

    @property
    def label(self) -> str:
        return f"{self.key} - {self.name}"


class EscalationLevel(PackModel):
    """One level of ``escalation.yaml``; ``after`` counts from the declaration."""

    level: int = Field(ge=1)
    after: Duration
    description: str = ""
    notify: list[Target]
    repeat_every: Duration | None = None
    """Pages to this level's people repeat at this interval until acknowledged (None: paging.yaml's)."""


class Role(PackModel):
    """One of the incident roles in ``roles.yaml``."""

    key: str = Field(pattern=r"^[a-z_]+$")
    name: str
    purpose: str
    responsibilities: list[str] = []
    assigned: str = ""
    aliases: list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = []  # as Playbook.role() compares them


AutoTick = Literal["declared", "channel_created", "acknowledged", "commander_assigned", "postmortem_drafted"]


class ChecklistItem(PackModel):
    key: str = Field(pattern=r"^[a-z0-9_]+$")
    text: str
    done_when: AutoTick | None = None  # the bot ticks the item itself when this happens


class Phase(PackModel):
    """One phase of the response workflow in ``phases.yaml`` with its checklist and time target."""

    key: str = Field(pattern=r"^[a-z_]+$")
    name: str
    target: str = ""  # as the procedures say it: "0-5 minutes", "within 24 hours"
    due_after: Duration | None = None  # when the phase should be done, counted from declaration
    items: list[ChecklistItem] = []


class Templates(PackModel):
    """``templates.yaml``: message texts with ``$placeholders`` (``string.Template`` syntax); each
    may use only the names in ``playbooks.templates.TEMPLATE_PLACEHOLDERS``."""

    status_update: str
    status_summary: str = ("*$incident_id ($severity) $title*: $status at $time\n"
                           "Impact: $impact | ETA: $eta | ${elapsed} since declared")
    """For the ``public.yaml`` summary channels: status, impact and ETA only."""
    customer_initial: str
    customer_resolution: str
    postmortem: str

    @field_validator("*")
    @classmethod
    def _placeholders(cls, value: str, info: ValidationInfo) -> str:
        return check_template(str(info.field_name), value)


Loc = tuple[str | int, ...]
_Issue = tuple[Loc, str]
_Named = tuple[Loc, str, tuple[int, ...], str]  # where, the name, whose (indices), whose (for people)


def _norm(name: str) -> str:
    """How role and phase names are compared: ``Post-mortem``, ``post mortem``, ``post_mortem``."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _clashes(entries: Iterable[_Named]) -> Iterator[_Issue]:
    """Each entry whose name another owner took first: a lookup by name must find one thing."""
    first: dict[str, tuple[tuple[int, ...], str]] = {}
    for loc, name, owner, label in entries:
        owner_first, label_first = first.setdefault(name, (owner, label))
        if owner_first != owner:
            yield loc, f"{name!r} is already used by {label_first}; names must be unique"


class Playbook(PackModel):
    """The whole pack, cross-checked: every reference points at something that exists."""

    settings: PackSettings
    severities: dict[str, Severity]
    escalation: list[EscalationLevel]
    roles: list[Role]
    phases: list[Phase]
    templates: Templates
    actions: dict[str, Action] = {}
    schedules: dict[str, Schedule] = {}
    backups: BackupSettings = BackupSettings()
    alerts: AlertSettings = AlertSettings()
    changes: ChangeSettings = ChangeSettings()
    rollback: RollbackSettings = RollbackSettings()
    public: PublicSettings = PublicSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    windows: WindowSettings = WindowSettings()
    record: RecordSettings = RecordSettings()
    paging: PagingSettings = PagingSettings()
    oncall: OncallSettings = OncallSettings()

    @field_validator("severities", mode="before")
    @classmethod
    def _key_from_mapping(cls, value: object) -> object:
        """``severities.yaml`` is keyed by P0..P3, so an entry needn't repeat its key."""
        if isinstance(value, dict):
            return {name: {"key": name, **sev} if isinstance(sev, dict) else sev for name, sev in value.items()}
        return value

    @field_validator("actions", mode="before")
    @classmethod
    def _name_from_mapping(cls, value: object) -> object:
        if isinstance(value, dict):
            return {name: {"name": name, **a} if isinstance(a, dict) else a for name, a in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Playbook:
        """Report every broken cross-reference at once, each at the location (``loc``) of the value
        to fix, so the loader can name the file and the key."""
        issues = [*self._severity_issues(), *self._escalation_issues(), *self._role_ref_issues()]
        issues += [*self._name_issues(), *self._action_issues()]
        if issues:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("playbook", "{message}", {"message": message}),
                        loc=loc,
                        input=None,
                    )
                    for loc, message in issues
                ],
            )
        return self

    def _severity_issues(self) -> Iterator[_Issue]:
        levels = [lvl.level for lvl in self.escalation]
        for key in SEVERITY_KEYS:
            if key not in self.severities:
                yield ("severities", key), f"missing; the pack defines each of {', '.join(SEVERITY_KEYS)}"
        for name, sev in self.severities.items():
            if name not in SEVERITY_KEYS:
                yield ("severities", name), f"unknown severity; severities are {', '.join(SEVERITY_KEYS)}"
            elif sev.key != name:
                yield ("severities", name, "key"), f"{sev.key!r} differs from the entry's name; leave key out"
            if sev.escalation_starts_at is not None and sev.escalation_starts_at not in levels:
                known = ", ".join(map(str, levels)) or "none"
                yield (
                    ("severities", name, "escalation_starts_at"),
                    f"no escalation level {sev.escalation_starts_at}; levels are {known}",
                )

    def _escalation_issues(self) -> Iterator[_Issue]:
        for i, (prev, lvl) in enumerate(pairwise(self.escalation), start=1):
            if lvl.level <= prev.level:
                message = f"level {lvl.level} follows level {prev.level}; levels must be unique and ascending"
                yield ("escalation", i, "level"), message
            if lvl.after < prev.after:
                message = (
                    f"{format_duration(lvl.after)} is earlier than level {prev.level}'s "
                    f"{format_duration(prev.after)}; 'after' must not decrease from one level to the next"
                )
                yield ("escalation", i, "after"), message

    def _role_ref_issues(self) -> Iterator[_Issue]:
        role_keys = {role.key for role in self.roles}
        refs: list[tuple[Loc, str]] = [
            (("severities", name, "responders", j), target)
            for name, sev in self.severities.items()
            for j, target in enumerate(sev.responders)
        ]
        refs += [
            (("escalation", i, "notify", j), target)
            for i, lvl in enumerate(self.escalation)
            for j, target in enumerate(lvl.notify)
        ]
        refs += [
            (("actions", name, "approvals", "approvers", j), target)
            for name, action in self.actions.items()
            for j, target in enumerate(action.approvals.approvers)
        ]
        for loc, target in refs:
            if target.startswith("role:") and target[5:] not in role_keys:
                yield loc, f"unknown role {target!r}; roles are {', '.join(sorted(role_keys))}"
            if target.startswith("schedule:") and target[9:] not in self.oncall.schedules:
                known = ", ".join(sorted(self.oncall.schedules)) or "none"
                yield loc, f"unknown on-call schedule {target!r}; oncall.yaml's schedules are {known}"
        owners: dict[str, str] = {}
        for name, schedule in self.oncall.schedules.items():
            if schedule.usergroup and owners.setdefault(schedule.usergroup, name) != name:
                message = f"{schedule.usergroup} already follows schedule {owners[schedule.usergroup]!r}"
                yield ("oncall", "schedules", name, "usergroup"), message

    def _action_issues(self) -> Iterator[_Issue]:
        for name, action in self.actions.items():
            if action.name != name:
                yield ("actions", name, "name"), f"{action.name!r} differs from the entry's name; leave name out"
        for name, schedule in self.schedules.items():
            action = self.actions.get(schedule.action)
            if action is None:
                known = ", ".join(sorted(self.actions)) or "none"
                yield ("schedules", name, "action"), f"no action {schedule.action!r}; actions are {known}"
                continue
            try:
                resolve_parameters(action, dict(schedule.parameters))
            except ParameterError as exc:
                yield ("schedules", name, "parameters"), str(exc).replace("`", "")

    def _name_issues(self) -> Iterator[_Issue]:
        """Role keys, names and aliases, phase keys and names, and checklist item keys (across all
        phases, so an item can be named on its own in a command) must each be unique."""
        roles: list[_Named] = []
        phases: list[_Named] = []
        items: list[_Named] = []
        for i, role in enumerate(self.roles):
            label = f"role {role.key!r}"
            roles += [(("roles", i, "key"), role.key, (i,), label)]
            roles += [(("roles", i, "name"), _norm(role.name), (i,), label)]
            roles += [(("roles", i, "aliases", j), alias, (i,), label) for j, alias in enumerate(role.aliases)]
        for i, phase in enumerate(self.phases):
            label = f"phase {phase.key!r}"
            phases += [(("phases", i, "key"), phase.key, (i,), label)]
            phases += [(("phases", i, "name"), _norm(phase.name), (i,), label)]
            items += [
                (("phases", i, "items", j, "key"), item.key, (i, j), f"an item of {label}")
                for j, item in enumerate(phase.items)
            ]
        for entries in (roles, phases, items):
            yield from _clashes(entries)

    def severity(self, key: str) -> Severity:
        return self.severities[key.upper()]

    def role(self, name: str) -> Role | None:
        """Find a role by key, alias or display name, case-insensitively."""
        wanted = _norm(name)
        return next((r for r in self.roles if wanted in (r.key, _norm(r.name), *r.aliases)), None)

    def phase(self, name: str) -> Phase | None:
        """Find a phase by key or display name, case-insensitively."""
        wanted = _norm(name)
        return next((p for p in self.phases if wanted in (p.key, _norm(p.name))), None)

    def next_level(self, after_level: int) -> EscalationLevel | None:
        return next((lvl for lvl in self.escalation if lvl.level > after_level), None)

