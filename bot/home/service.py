"""What one person's Home tab shows, read in one short unit of work: their incidents, every open
incident, the approvals waiting for them, their change requests and follow-ups, the coming
maintenance windows and who is on call. Reading only; the rules it shows are the domains' own
(who may approve is ``bot.executor.approvals.is_allowed``, as at the click).

Whether a person may approve is shown from the directory's cached user groups (a few minutes old at
most); the click is checked live by the same flow as the thread's button, so the list can only be
briefly out of date, never grant anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from bot.committed import Changed
from bot.executor.approvals import Approver, is_allowed
from bot.followups import queries as followup_queries
from bot.followups.service import today
from bot.incidents import queries as incident_queries
from bot.incidents.service import open_incidents
from bot.oncall import service as oncall_service
from bot.slack.directory import Directory
from bot.slack.gateway import UserGroup
from bot.windows.service import upcoming
from bot.work import Ctx
from playbooks.models import Playbook
from storage.changes import FINISHED, REQUESTED, ChangeRequest
from storage.followups import FollowUp
from storage.models import Incident, RoleAssignment
from storage.runs import PENDING, Approval, Run
from storage.windows import MaintenanceWindow

WINDOWS_AHEAD = timedelta(days=7)
"""How far ahead the Home tab lists maintenance windows."""
RECENT_CHANGES = timedelta(days=14)
"""A person's finished change requests stay listed this long."""
SHOWN_TABLES = frozenset({"incident", "role_assignment", "run", "approval", "change_request", "follow_up",
                          "maintenance_window"})
"""The tables whose rows a Home tab shows: a commit that touches one of them refreshes Home tabs."""


@dataclass(frozen=True)
class OpenIncident:
    incident: Incident
    label: str  # "P1 - High"
    commander: str | None
    next_update_at: datetime | None
    overdue_since: datetime | None  # a status update was due then and none has been posted since
    roles: tuple[str, ...]  # the names of the roles the viewer holds in it


@dataclass(frozen=True)
class WaitingRun:
    run: Run
    description: str


@dataclass(frozen=True)
class WaitingChange:
    change: ChangeRequest
    kind: str  # the category's name (Normal, Emergency)
    owed: bool  # an emergency change's approval, owed after the fact


@dataclass(frozen=True)
class OnCall:
    handle: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Home:
    user: str
    now: datetime
    today: date
    mine: list[OpenIncident]
    open: list[OpenIncident]
    runs: list[WaitingRun]
    changes_to_approve: list[WaitingChange]
    my_changes: list[ChangeRequest]
    followups: list[FollowUp]
    refs: dict[int, str]  # incident id → INC-0001, for the follow-ups
    windows: list[MaintenanceWindow]
    on_call: list[OnCall]


class CachedGroups:
    """The directory's cached answer to "who is in @group", for showing (not for permitting)."""

    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    def user_group(self, handle: str) -> UserGroup | None:
        return self._directory.user_group(handle)

    def group_members(self, handle: str) -> frozenset[str]:
        group = self._directory.user_group(handle)
        return frozenset(group.users) if group else frozenset()


def home(ctx: Ctx, user: str) -> Home:
    groups = CachedGroups(ctx.directory)
    incidents = _open(ctx, user)
    shown_ids = {i.incident.id for i in incidents}
    followups = followup_queries.of_user(ctx.session, user)
    refs = _refs(ctx.session, {f.incident_id for f in followups} - shown_ids)
    refs |= {i.incident.id: i.incident.ref for i in incidents if i.incident.id is not None}
    return Home(
        user=user, now=ctx.now, today=today(ctx),
        mine=[i for i in incidents if i.roles], open=incidents,
        runs=_runs_waiting(ctx, user, groups), changes_to_approve=_changes_waiting(ctx, user, groups),
        my_changes=_my_changes(ctx.session, user, ctx.now), followups=followups, refs=refs,
        windows=[w for w in upcoming(ctx.session, ctx.now) if w.starts_at <= ctx.now + WINDOWS_AHEAD],
        on_call=on_call(ctx),
    )


def on_call(ctx: Ctx) -> list[OnCall]:
    """Who is on call now: each on-call schedule's person (``oncall.yaml``); a pack without schedules
    shows the user groups the first escalation level pages, as the directory has them."""
    if ctx.playbook.oncall.schedules:
        return [OnCall(f"schedule {name}", oncall_service.on_call_now(ctx, name))
                for name in ctx.playbook.oncall.schedules]
    first = min(ctx.playbook.escalation, key=lambda level: level.level, default=None)
    if first is None:
        return []
    shown = []
    for target in first.notify:
        if target.startswith("@"):
            group = ctx.directory.user_group(target)
            shown.append(OnCall(target, tuple(group.users) if group else ()))
    return shown


def _open(ctx: Ctx, user: str) -> list[OpenIncident]:
    incidents = open_incidents(ctx.session)
    roles: dict[int, dict[str, str]] = {}
    ids = [i.id for i in incidents]
    for row in ctx.session.exec(select(RoleAssignment).where(col(RoleAssignment.incident_id).in_(ids))).all():
        roles.setdefault(row.incident_id, {})[row.role] = row.user_id  # one query for every open incident
    shown = []
    for incident in incidents:
        held = roles.get(incident.id or 0, {})
        names = tuple(_role_name(ctx.playbook, key) for key, holder in held.items() if holder == user)
        try:
            label = ctx.playbook.severity(incident.severity).label
        except KeyError:  # a severity the pack no longer declares
            label = incident.severity
        shown.append(OpenIncident(incident, label, held.get("incident_commander"), incident.next_update_at,
                                  incident_queries.update_overdue_since(ctx.playbook, incident, ctx.now),
                                  roles=names))
    return shown


def _role_name(playbook: Playbook, key: str) -> str:
    role = playbook.role(key)
    return role.name if role else key


def _refs(session: Session, incident_ids: set[int]) -> dict[int, str]:
    if not incident_ids:
        return {}
    rows = session.exec(select(Incident).where(col(Incident.id).in_(incident_ids))).all()
    return {row.id: row.ref for row in rows if row.id is not None}


def _runs_waiting(ctx: Ctx, user: str, groups: CachedGroups) -> list[WaitingRun]:
    """Pending runs this person may approve and has not answered (never their own)."""
    answered = select(Approval.run_id).where(Approval.user_id == user)
    runs = ctx.session.exec(select(Run).where(Run.status == PENDING, Run.requested_by != user)
                            .where(col(Run.id).not_in(answered)).order_by(col(Run.id))).all()
    waiting = []
    for run in runs:
        if run.expires_at is not None and run.expires_at <= ctx.now:
            continue
        action = ctx.playbook.actions.get(run.action)
        if action is None:
            continue
        roles = incident_queries.roles(ctx.session, run.incident_id) if run.incident_id else {}
        if is_allowed(action.approvals.approvers, Approver(user, run.requested_by, roles), groups):
            waiting.append(WaitingRun(run, action.description))
    return waiting


def _changes_waiting(ctx: Ctx, user: str, groups: CachedGroups) -> list[WaitingChange]:
    """Change requests waiting for an approval this person may give: before they start, or owed."""
    rows = ctx.session.exec(select(ChangeRequest).where(ChangeRequest.requested_by != user)
                            .where((col(ChangeRequest.status) == REQUESTED) | col(ChangeRequest.approval_owed))
                            .order_by(col(ChangeRequest.id))).all()
    waiting = []
    for cr in rows:
        kind = ctx.playbook.changes.categories.get(cr.category)
        if kind is None or kind.approval == "automatic" or cr.approved_by:
            continue
        if kind.approval == "retroactive" and not cr.approval_owed:
            continue
        if is_allowed(kind.approvers, Approver(user, cr.requested_by, {}), groups):
            waiting.append(WaitingChange(cr, kind.name, owed=kind.approval == "retroactive"))
    return waiting


def _my_changes(session: Session, user: str, now: datetime) -> list[ChangeRequest]:
    """This person's change requests: those not finished, and those finished lately."""
    rows = session.exec(select(ChangeRequest).where(ChangeRequest.requested_by == user)
                        .order_by(col(ChangeRequest.id).desc())).all()
    return [cr for cr in rows if cr.status not in FINISHED
            or (cr.finished_at is not None and cr.finished_at >= now - RECENT_CHANGES)]


def affected(changed: Changed) -> frozenset[str] | None:
    """Whose Home tab a commit changed: None for everyone's (every tab lists the open incidents, the
    windows, and approvals by group), a set when only some people's follow-ups changed, empty when
    nothing a Home tab shows."""
    tables = changed.tables & SHOWN_TABLES
    if not tables:
        return frozenset()
    if tables == {"follow_up"} and "follow_up" not in changed.bulk:
        return frozenset(str(f.owner) for f in changed.rows["follow_up"] if isinstance(f, FollowUp))
    return None
