"""The rules of on-call: reading the final schedule (the pack's layers with the overrides and swaps
people made), who may change it, what an override or a swap records and whom it tells, and what a
handoff does (the user group, the briefing DMs). Who is on call at an instant is ``bot.oncall.rota``;
this module feeds it from the database and the directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from bot.executor.approvals import Approver, describe, is_allowed
from bot.oncall import commands, feeds, rota, views
from bot.refusal import Refusal
from bot.slack import outbox
from bot.work import BOT, Ctx
from playbooks.oncall import OncallSchedule
from storage.followups import OPEN as FOLLOWUP_OPEN
from storage.followups import FollowUp
from storage.models import Incident, OutboundMessage
from storage.oncall import OVERRIDE, SWAP, OncallAudit, OncallChange, OncallState
from storage.windows import SCHEDULED, MaintenanceWindow

BEHIND = timedelta(days=14)
"""How far back a handoff looks for the outgoing person's shift."""
QUICK_LOOK = timedelta(days=2)


def members(ctx: Ctx) -> rota.Members:
    def of(handle: str) -> Sequence[str]:
        group = ctx.directory.user_group(handle)
        return group.users if group else ()
    return of


def schedule_named(ctx: Ctx, name: str | None) -> tuple[str, OncallSchedule]:
    schedules = ctx.playbook.oncall.schedules
    if not schedules:
        raise Refusal("No on-call schedules are declared (oncall.yaml).")
    if name is None:
        if len(schedules) == 1:
            return next(iter(schedules.items()))
        raise Refusal(f"Say which schedule: {', '.join(sorted(schedules))}.")
    if name not in schedules:
        raise Refusal(f"There is no schedule `{name}`; the schedules are {', '.join(sorted(schedules))}.")
    return name, schedules[name]


def final(ctx: Ctx, name: str, start: datetime, end: datetime, *, without: int | None = None) -> list[rota.Segment]:
    """The final schedule over ``[start, end)`` (``without``: as it was before that change)."""
    schedule = ctx.playbook.oncall.schedules[name]
    rows = ctx.session.exec(select(OncallChange).where(OncallChange.schedule == name)
                            .where(col(OncallChange.ends_at) > start).where(col(OncallChange.starts_at) < end)).all()
    rows = [r for r in rows if r.id != without]
    overrides = [rota.Override(r.starts_at, r.ends_at, r.user_id, r.id or 0) for r in rows if r.kind == OVERRIDE]
    swaps = [rota.Swap(r.layer or 0, r.starts_at, r.user_id, r.id or 0) for r in rows if r.kind == SWAP]
    return rota.final(schedule, members(ctx), overrides, swaps, start, end)


def on_call_now(ctx: Ctx, name: str) -> tuple[str, ...]:
    """Who the schedule has on call now (the escalation's ``schedule:<name>``); nobody for an
    unknown schedule or a gap."""
    if name not in ctx.playbook.oncall.schedules:
        return ()
    return rota.on_call(final(ctx, name, ctx.now - timedelta(seconds=1), ctx.now + timedelta(seconds=1)), ctx.now)


def check_editor(ctx: Ctx, name: str, schedule: OncallSchedule, user: str) -> None:
    """The schedule's ``editors`` may change it; when it names none, its own people may."""
    editors = list(schedule.editors)
    if not editors:
        editors = [p for layer in schedule.layers for p in layer.people]
    if not is_allowed(editors, Approver(user, "", {}), ctx.directory):
        raise Refusal(f"Only {describe(editors)} may change the `{name}` schedule.")


def _local(moment: datetime, schedule: OncallSchedule) -> datetime:
    return moment.replace(tzinfo=schedule.zone).astimezone(UTC)


def _audit(ctx: Ctx, name: str, actor: str, event: str, detail: dict[str, object]) -> None:
    ctx.session.add(OncallAudit(schedule=name, at=ctx.now, actor=actor, event=event, detail=json.dumps(detail)))


def state_of(ctx: Ctx, name: str) -> OncallState:
    """The schedule's state row, locked (PostgreSQL) so a handoff claimed at the same moment either
    finishes first (its next handoff time is then read here) or fails its compare-and-set."""
    state = ctx.session.exec(select(OncallState).where(OncallState.schedule == name).with_for_update()).first()
    if state is None:
        state = OncallState(schedule=name, handoff_at=ctx.now, drift_check_at=ctx.now)
        ctx.session.add(state)
        ctx.session.flush()
    return state


def _replan(ctx: Ctx, name: str, at: datetime) -> None:
    """A change from ``at`` on: the handoff timer fires then (or now) to hand the schedule over."""
    state = state_of(ctx, name)
    due = max(at, ctx.now)
    state.handoff_at = min(state.handoff_at, due) if state.handoff_at else due


def override(ctx: Ctx, cmd: commands.Override, actor: str) -> str:
    name, schedule = schedule_named(ctx, cmd.schedule)
    check_editor(ctx, name, schedule, actor)
    start = max(ctx.now, _local(cmd.start, schedule)) if cmd.start else ctx.now
    end = start + cmd.end if isinstance(cmd.end, timedelta) else _local(cmd.end, schedule)
    if end <= start:
        over = "would already be over" if end <= ctx.now else "would end before it starts"
        raise Refusal(f"That override {over} (times are in the schedule's time zone, {schedule.timezone}).")
    if end - start > commands.MAX_SPAN:
        raise Refusal(f"An override lasts at most {commands.MAX_SPAN.days} days.")
    displaced = sorted({s.user for s in final(ctx, name, start, end) if s.user != cmd.user})
    row = OncallChange(schedule=name, kind=OVERRIDE, user_id=cmd.user, starts_at=start, ends_at=end,
                       created_by=actor, created_at=ctx.now)
    ctx.session.add(row)
    ctx.session.flush()
    span = views.span(start, end, schedule)
    _audit(ctx, name, actor, OVERRIDE, {"change": row.id, "user": cmd.user, "from": start.isoformat(),
                                        "to": end.isoformat(), "replaces": displaced})
    if cmd.user != actor:
        outbox.post(ctx.session, ctx.now, cmd.user, views.overridden_in(name, span, actor), purpose="oncall_change")
    for user in displaced:
        if user != actor:
            outbox.post(ctx.session, ctx.now, user, views.overridden_out(name, span, actor, cmd.user),
                        purpose="oncall_change")
    _replan(ctx, name, start)
    return views.override_done(name, cmd.user, span, displaced)


def swap(ctx: Ctx, cmd: commands.Swap, actor: str) -> str:
    if cmd.user == actor:
        raise Refusal("That shift is already yours; name the person who takes it.")
    names = [schedule_named(ctx, cmd.schedule)[0]] if cmd.schedule or len(ctx.playbook.oncall.schedules) <= 1 \
        else sorted(ctx.playbook.oncall.schedules)
    horizon = ctx.playbook.oncall.horizon
    for name in names:
        schedule = ctx.playbook.oncall.schedules[name]
        shift = _my_shift(ctx, name, schedule, actor, cmd, horizon)
        if shift is None:
            continue
        check_editor(ctx, name, schedule, actor)
        row = OncallChange(schedule=name, kind=SWAP, user_id=cmd.user, replaced=actor, layer=shift.layer,
                           starts_at=shift.start, ends_at=shift.end, created_by=actor, created_at=ctx.now)
        ctx.session.add(row)
        ctx.session.flush()
        span = views.span(shift.start, shift.end, schedule)
        _audit(ctx, name, actor, SWAP, {"change": row.id, "user": cmd.user, "replaces": actor,
                                        "layer": shift.layer, "from": shift.start.isoformat(),
                                        "to": shift.end.isoformat()})
        outbox.post(ctx.session, ctx.now, cmd.user, views.swapped_in(name, span, actor), purpose="oncall_change")
        _replan(ctx, name, shift.start)
        return views.swap_done(name, cmd.user, span)
    when = f"on {cmd.shift:%a %d %b %Y}" if cmd.shift else f"in the next {horizon.days} days"
    raise Refusal(f"You have no shift {when} in {' or '.join(f'`{n}`' for n in names)}.")


def _my_shift(ctx: Ctx, name: str, schedule: OncallSchedule, user: str, cmd: commands.Swap,
              horizon: timedelta) -> rota.Shift | None:
    """The actor's own shift (swaps of earlier swaps counted) that ``cmd.shift`` names: the one on
    that local day, or the next one not yet over."""
    if cmd.shift is not None:
        day_start = datetime.combine(cmd.shift, datetime.min.time(), tzinfo=schedule.zone).astimezone(UTC)
        start, end = day_start, day_start + timedelta(days=1)
    else:
        start, end = ctx.now, ctx.now + horizon
    rows = ctx.session.exec(select(OncallChange).where(OncallChange.schedule == name)
                            .where(OncallChange.kind == SWAP)).all()
    table = rota.swap_table(rota.Swap(r.layer or 0, r.starts_at, r.user_id, r.id or 0) for r in rows)
    found = [shift for index, layer in enumerate(schedule.layers)
             for shift in rota.layer_shifts(schedule, index, rota.rotation(layer, members(ctx)), start, end, table)
             if shift.user == user and shift.end > max(start, ctx.now)]
    return min(found, key=lambda s: (s.start, s.layer)) if found else None


# -- reading -------------------------------------------------------------------------------------------
def overview(ctx: Ctx, key: bytes) -> str:
    schedules = ctx.playbook.oncall.schedules
    if not schedules:
        return "No on-call schedules are declared yet (oncall.yaml in the pack; see docs/oncall.md)."
    lines = []
    for name, schedule in schedules.items():
        current, following = now_and_next(ctx, name)
        feed = feeds.link(ctx.playbook.oncall.feed_url, key, schedule=name)
        lines.append(views.now_and_next(name, schedule, current, following, feed))
    return "\n".join(lines)


def now_and_next(ctx: Ctx, name: str) -> tuple[rota.Segment | None, rota.Segment | None]:
    """Who is on call now (until when) and who comes next: two days ahead are read first, the whole
    horizon only when they do not say (so `/oncall` stays quick with many schedules). The current
    stretch's end is only trusted when it ends before the span read does."""
    horizon = ctx.playbook.oncall.horizon
    for ahead in (min(QUICK_LOOK, horizon), horizon):
        segments = final(ctx, name, ctx.now - timedelta(seconds=1), ctx.now + ahead)
        current, following = rota.at(segments, ctx.now), rota.after(segments, ctx.now)
        if following is not None:
            return current, following
    return current, following


def mine(ctx: Ctx, user: str, feed: str) -> str:
    horizon = ctx.playbook.oncall.horizon
    shifts: list[tuple[str, OncallSchedule, rota.Segment]] = []
    for name, schedule in ctx.playbook.oncall.schedules.items():
        segments = final(ctx, name, ctx.now - timedelta(seconds=1), ctx.now + horizon)
        shifts += [(name, schedule, s) for s in segments if s.user == user and s.end > ctx.now]
    shifts.sort(key=lambda item: item[2].start)
    return views.mine(shifts, horizon, feed)


# -- handoff ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Handoff:
    """What a handoff at ``now`` does: who is on call (the user group's members) and when to look
    again (the next change, or the horizon's end)."""

    on_call: tuple[str, ...]
    changed: bool
    next_at: datetime


def plan(segments: Sequence[rota.Segment], previous: tuple[str, ...] | None, now: datetime,
         horizon: timedelta) -> Handoff:
    """Pure: the handoff at ``now`` given what was handed over last time."""
    current = rota.on_call(segments, now)
    nxt = rota.next_change(segments, now)
    return Handoff(current, previous is not None and current != previous,
                   min(nxt, now + horizon) if nxt else now + horizon)


def handoff(ctx: Ctx, state: OncallState) -> None:
    """The claimed handoff timer of one schedule: set the user group, tell the outgoing and incoming
    people (not on the very first pass, which only takes over the group), plan the next one."""
    name = state.schedule
    settings = ctx.playbook.oncall
    schedule = settings.schedules.get(name)
    if schedule is None:  # dropped from the pack: nothing to hand over any more
        return
    segments = final(ctx, name, ctx.now - BEHIND, ctx.now + settings.horizon)
    step = plan(segments, state.people if state.on_call is not None else None, ctx.now, settings.horizon)
    state.handoff_at = step.next_at
    if step.on_call and (step.on_call != state.people or state.on_call is None):
        set_group(ctx, name, schedule, step.on_call)
    if step.changed:
        _audit(ctx, name, BOT, "handoff", {"from": list(state.people), "to": list(step.on_call)})
        if settings.handoff_notes:
            _brief(ctx, name, schedule, segments, outgoing=state.people, incoming=step.on_call)
    state.on_call = ",".join(step.on_call)


def set_group(ctx: Ctx, name: str, schedule: OncallSchedule, people: Sequence[str]) -> None:
    """Queue ``usergroups.users.update`` (the whole member list). Slack refuses an empty group, so a
    gap leaves the group as it was (docs/oncall.md)."""
    if not schedule.usergroup or not people:
        return
    group = ctx.directory.user_group(schedule.usergroup)
    if group is None:
        _audit(ctx, name, BOT, "group_missing", {"usergroup": schedule.usergroup})
        return
    outbox.enqueue(ctx.session, ctx.now, "usergroups.users.update", {"usergroup": group.id, "users": ",".join(people)},
                   purpose=group_purpose(name))


def group_purpose(name: str) -> str:
    return f"oncall_group:{name}"


def check_group(ctx: Ctx, state: OncallState, live: frozenset[str], read_at: datetime) -> None:
    """The claimed drift check: a user group whose members (read live at ``read_at``) differ from
    who is on call was edited by hand; put it back and note it. Skipped while the bot's own update of
    that group is on its way or arrived after the read (the read may predate it)."""
    name = state.schedule
    schedule = ctx.playbook.oncall.schedules.get(name)
    state.drift_check_at = ctx.now + ctx.playbook.oncall.drift_check_every
    if schedule is None or not schedule.usergroup or not state.people or live == frozenset(state.people):
        return
    pending = ctx.session.exec(select(OutboundMessage.id).where(OutboundMessage.purpose == group_purpose(name))
                               .where(col(OutboundMessage.state).in_(["pending", "sending"])
                                      | (col(OutboundMessage.sent_at) >= read_at))).first()
    if pending is not None:
        return
    _audit(ctx, name, BOT, "group_restored", {"usergroup": schedule.usergroup, "found": sorted(live),
                                              "restored": list(state.people)})
    set_group(ctx, name, schedule, state.people)


def _brief(ctx: Ctx, name: str, schedule: OncallSchedule, segments: Sequence[rota.Segment], *,
           outgoing: Sequence[str], incoming: Sequence[str]) -> None:
    incidents = ctx.session.exec(select(Incident).where(Incident.status == "open")
                                 .order_by(col(Incident.id))).all()
    for user in dict.fromkeys([*outgoing, *incoming]):
        coming = user in incoming
        if coming:
            current = rota.at(segments, ctx.now)
            start, end = ctx.now, current.end if current else ctx.now
        else:
            ended = [s for s in segments if s.user == user and s.end <= ctx.now]
            start, end = (ended[-1].start if ended else ctx.now), ctx.now
        zone = schedule.zone
        followups = ctx.session.exec(
            select(FollowUp).where(FollowUp.status == FOLLOWUP_OPEN)
            .where(col(FollowUp.due_on) >= start.astimezone(zone).date())
            .where(col(FollowUp.due_on) <= end.astimezone(zone).date()).order_by(col(FollowUp.due_on))).all()
        windows = ctx.session.exec(
            select(MaintenanceWindow).where(MaintenanceWindow.status == SCHEDULED)
            .where(col(MaintenanceWindow.starts_at) < end).where(col(MaintenanceWindow.ends_at) > start)
            .order_by(col(MaintenanceWindow.starts_at))).all()
        text = views.briefing(name, schedule, coming, start, end, incidents, followups, windows)
        outbox.post(ctx.session, ctx.now, user, text, purpose="oncall_handoff")
