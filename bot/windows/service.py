"""The rules of scheduled maintenance windows (procedures 5.4): scheduling, the timers each window
owns (notices at T-24h and T-2h and at completion, checklist stages T-24h/T-2h/T-30m/T-0, reminders
for open items), cancelling and moving (the notices follow), checklist ticks, and which services
are under maintenance right now.

State changes and their Slack messages (the outbox) are committed together; timers are rows fired
by ``bot.windows.timers`` with a compare-and-set on their due time (docs/architecture.md, "Timers
are data")."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.executor.approvals import Approver, describe, is_allowed
from bot.refusal import Refusal
from bot.slack import outbox
from bot.slack.people import who
from bot.windows import standing as standing_rules
from bot.windows import views
from bot.windows.forms import WindowForm
from bot.work import BOT, Ctx
from playbooks.windows import STAGES, StandingWindow, WindowSettings
from storage.models import OutboundMessage
from storage.windows import (
    CANCELLED,
    DONE,
    DROPPED,
    FIRED,
    PENDING,
    SCHEDULED,
    MaintenanceCheck,
    MaintenanceTimer,
    MaintenanceWindow,
)

NOTICES = ("notice_24h", "notice_2h")  # in order: an earlier one past due when a later one is, is dropped
STAGE_KINDS = tuple(f"stage_{stage}" for stage in STAGES)
NOTICE_OFFSETS = {"notice_24h": STAGES["T-24h"], "notice_2h": STAGES["T-2h"]}


def get(session: Session, window_id: int) -> MaintenanceWindow:
    window = session.get(MaintenanceWindow, window_id)
    if window is None:
        raise Refusal(f"There is no maintenance window {window_id}. `/maintenance windows` lists them.")
    return window


def standing_of(settings: WindowSettings, window: MaintenanceWindow) -> StandingWindow | None:
    return settings.standing_window(window.standing_key) if window.standing_key else None


def notifies(settings: WindowSettings, window: MaintenanceWindow) -> bool:
    """Windows scheduled by people always do; a standing window as its playbook entry says."""
    rule = standing_of(settings, window)
    return rule.notify if rule else True


def check_planner(ctx: Ctx, user: str) -> None:
    """Scheduling, moving and cancelling are for the pack's ``planners`` (all when none are named)."""
    planners = ctx.playbook.windows.planners
    if planners and not is_allowed(planners, Approver(user, "", {}), ctx.directory):
        raise Refusal(f"Only {describe(planners)} may schedule, move or cancel maintenance windows.")


# -- scheduling ---------------------------------------------------------------------------------------
def schedule(ctx: Ctx, form: WindowForm, user: str, request_key: str | None) -> tuple[MaintenanceWindow, bool]:
    """Record a window and its timers; a repeated submission of the same form returns the first."""
    if request_key:
        existing = ctx.session.exec(select(MaintenanceWindow)
                                    .where(MaintenanceWindow.request_key == request_key)).first()
        if existing:
            return existing, False
    window = MaintenanceWindow(
        title=form.title, starts_at=form.starts_at, ends_at=form.ends_at, activities=json.dumps(form.activities),
        expected_impact=form.expected_impact, services=json.dumps(form.services), created_by=user,
        created_at=ctx.now, request_key=request_key,
    )
    ctx.session.add(window)
    ctx.session.flush()
    plan_timers(ctx, window)
    return window, True


def add_standing(ctx: Ctx, rule: StandingWindow, start: datetime) -> MaintenanceWindow:
    """One occurrence of a standing window with its timers (the caller commits; a concurrent
    creation of the same occurrence fails on the unique (standing key, occurrence) instead)."""
    window = MaintenanceWindow(
        title=rule.title, starts_at=start, ends_at=start + rule.duration, activities=json.dumps(rule.activities),
        expected_impact=rule.expected_impact, services=json.dumps(rule.services), created_by=BOT,
        created_at=ctx.now, standing_key=rule.key, occurrence_at=start,
    )
    ctx.session.add(window)
    ctx.session.flush()
    plan_timers(ctx, window)
    return window


def _due(settings: WindowSettings, window: MaintenanceWindow, kind: str, now: datetime) -> datetime:
    if kind == "complete":
        return window.ends_at
    if kind == "reminder":
        return max(now, window.starts_at - STAGES["T-24h"]) + settings.remind_every
    if kind in NOTICE_OFFSETS:
        return window.starts_at - NOTICE_OFFSETS[kind]
    return window.starts_at - STAGES[kind.removeprefix("stage_")]


def plan_timers(ctx: Ctx, window: MaintenanceWindow) -> None:
    kinds = ["complete"]
    if notifies(ctx.playbook.windows, window):
        kinds += [*NOTICES, *STAGE_KINDS, "reminder"]
    for kind in kinds:
        due = _due(ctx.playbook.windows, window, kind, ctx.now)
        ctx.session.add(MaintenanceTimer(window_id=window.id, kind=kind, due_at=due))
    ctx.session.flush()
    _drop_superseded(ctx, window)


def _drop_superseded(ctx: Ctx, window: MaintenanceWindow) -> None:
    """A window scheduled (or moved) late: of the notices already due only the latest goes out, and
    of the checklist stages already due only the latest is posted (its post lists what is open)."""
    timers = {t.kind: t for t in _timers(ctx.session, window)}
    for family in (NOTICES, STAGE_KINDS):
        overdue = [k for k in family if k in timers and timers[k].state == PENDING and timers[k].due_at <= ctx.now]
        for kind in overdue[:-1]:
            timers[kind].state = DROPPED
            ctx.session.add(timers[kind])


def superseded(ctx: Ctx, window: MaintenanceWindow, timer: MaintenanceTimer) -> bool:
    """Whether a later notice (or checklist stage) of the window is due too, after downtime: then
    only the latest goes out, as for a window scheduled late."""
    for family in (NOTICES, STAGE_KINDS):
        if timer.kind in family:
            later = family[family.index(timer.kind) + 1:]
            return any(t.kind in later and t.state == PENDING and t.due_at <= ctx.now
                       for t in _timers(ctx.session, window))
    return False


def _timers(session: Session, window: MaintenanceWindow) -> list[MaintenanceTimer]:
    return list(session.exec(select(MaintenanceTimer).where(MaintenanceTimer.window_id == window.id)).all())


def _notice_sent(session: Session, window: MaintenanceWindow) -> bool:
    return any(t.kind in NOTICES and t.state == FIRED for t in _timers(session, window))


def _changeable(ctx: Ctx, window: MaintenanceWindow, verb: str) -> None:
    if window.status == CANCELLED:
        raise Refusal(f"{window.ref} is already cancelled.")
    if window.status == DONE or window.ends_at <= ctx.now:
        raise Refusal(f"{window.ref} is over; there is nothing to {verb}.")
    if window.starts_at <= ctx.now:
        done = "moved" if verb == "move" else "cancelled"
        raise Refusal(f"{window.ref} is in progress; it can no longer be {done}.")


# -- cancel and move ----------------------------------------------------------------------------------
def cancel(ctx: Ctx, window_id: int, user: str) -> str:
    settings = ctx.playbook.windows
    window = get(ctx.session, window_id)
    _changeable(ctx, window, "cancel")
    claimed = ctx.session.exec(  # type: ignore[call-overload]
        update(MaintenanceWindow).where(col(MaintenanceWindow.id) == window.id)
        .where(col(MaintenanceWindow.status) == SCHEDULED)
        .values(status=CANCELLED, cancelled_by=user, cancelled_at=ctx.now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise Refusal(f"{window.ref} changed meanwhile; look again with `/maintenance windows`.")
    announced = _notice_sent(ctx.session, window)
    ctx.session.exec(  # type: ignore[call-overload]
        update(MaintenanceTimer).where(col(MaintenanceTimer.window_id) == window.id)
        .where(col(MaintenanceTimer.state) == PENDING).values(state=DROPPED))
    if announced:
        text = views.notice(settings, settings.templates.cancelled, window)
        _to_notice_channels(ctx, window, text, "cancelled")
    _in_thread(ctx, window, f"❌ {window.ref} was cancelled by <@{user}>.", create=False)
    told = " The cancellation notice goes out to " + ", ".join(settings.notice_channels) + "." if announced else ""
    return f"{window.ref} {views.escape(window.title)} is cancelled; its pending notices are dropped.{told}"


def move(ctx: Ctx, window_id: int, new_start: datetime, user: str) -> str:
    settings = ctx.playbook.windows
    window = get(ctx.session, window_id)
    _changeable(ctx, window, "move")
    duration = window.ends_at - window.starts_at
    old_start, new_end = window.starts_at, new_start + duration
    if new_start == old_start:
        raise Refusal(f"{window.ref} already starts then.")
    claimed = ctx.session.exec(  # type: ignore[call-overload]
        update(MaintenanceWindow).where(col(MaintenanceWindow.id) == window.id)
        .where(col(MaintenanceWindow.status) == SCHEDULED).where(col(MaintenanceWindow.starts_at) == old_start)
        .values(starts_at=new_start, ends_at=new_end).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        raise Refusal(f"{window.ref} changed meanwhile; look again with `/maintenance windows`.")
    announced = _notice_sent(ctx.session, window)
    moved_text = views.notice(settings, settings.templates.moved, window, new_start=new_start, new_end=new_end)
    ctx.session.expire(window)
    window = get(ctx.session, window_id)
    for timer in _timers(ctx.session, window):
        if timer.state != PENDING:
            continue
        retimed = ctx.session.exec(  # type: ignore[call-overload]
            update(MaintenanceTimer).where(col(MaintenanceTimer.id) == timer.id)
            .where(col(MaintenanceTimer.state) == PENDING).where(col(MaintenanceTimer.due_at) == timer.due_at)
            .values(due_at=_due(settings, window, timer.kind, ctx.now))
            .execution_options(synchronize_session=False))
        if retimed.rowcount != 1:  # fired meanwhile by a tick: the move waits for the next try
            raise Refusal(f"{window.ref} was busy sending a notice; please try again.")
    ctx.session.expire_all()
    _drop_superseded(ctx, window)
    if announced:
        _to_notice_channels(ctx, window, moved_text, "moved")
    _in_thread(ctx, window, f"📅 {window.ref} was moved by <@{user}> to {views.when(settings, new_start)} "
                            f"{settings.timezone}; its pending notices follow.", create=False)
    return (f"{window.ref} now runs {views.when(settings, new_start)}–{views.when(settings, new_end, '%H:%M')} "
            f"{settings.timezone}; its pending notices are re-timed."
            + (" A notice of the new time goes out." if announced else ""))


# -- firing timers -------------------------------------------------------------------------------------
def fire(ctx: Ctx, window: MaintenanceWindow, timer: MaintenanceTimer) -> None:
    """What a claimed timer does (in the claiming transaction)."""
    settings = ctx.playbook.windows
    if timer.kind in NOTICES:
        template = settings.templates.notice_24h if timer.kind == "notice_24h" else settings.templates.notice_2h
        _to_notice_channels(ctx, window, views.notice(settings, template, window), timer.kind)
        for stage, item in settings.items():
            if item.done_when == timer.kind:
                _record_tick(ctx, window, stage, item.key, BOT)
    elif timer.kind == "complete":
        window.status, window.completed_at = DONE, ctx.now
        ctx.session.add(window)
        if notifies(settings, window):
            _to_notice_channels(ctx, window, views.notice(settings, settings.templates.complete, window), "complete")
            _in_thread(ctx, window, f"✅ {window.ref} is complete; the completion notice went out.", create=False)
    elif timer.kind == "reminder":
        still_open = open_due_items(ctx, window)
        if still_open:
            _in_thread(ctx, window, views.reminder(window, still_open))
        following = ctx.now + settings.remind_every
        if following < window.ends_at:  # re-armed: the next reminder is a new due time to claim
            timer.state, timer.due_at, timer.fired_at = PENDING, following, ctx.now
            ctx.session.add(timer)
    else:
        stage = timer.kind.removeprefix("stage_")
        action = settings.enable_action if stage == "T-30m" and settings.enable_action in ctx.playbook.actions else None
        text, blocks = views.stage_post(window, stage, open_due_items(ctx, window), action)
        _in_thread(ctx, window, text, blocks)


def open_due_items(ctx: Ctx, window: MaintenanceWindow) -> list[tuple[str, str]]:
    """(stage, text) of items whose stage has come and that nobody ticked."""
    ticked = set(ctx.session.exec(select(MaintenanceCheck.item_key)
                                  .where(MaintenanceCheck.window_id == window.id)).all())
    return [(stage, item.text) for stage, item in ctx.playbook.windows.items()
            if window.starts_at - STAGES[stage] <= ctx.now and item.key not in ticked]


def _to_notice_channels(ctx: Ctx, window: MaintenanceWindow, text: str, purpose: str) -> None:
    for channel in ctx.playbook.windows.notice_channels:
        outbox.post(ctx.session, ctx.now, channel, text, purpose=f"window:{window.id}:{purpose}")


def _in_thread(ctx: Ctx, window: MaintenanceWindow, text: str, blocks: list[dict] | None = None,
               *, create: bool = True) -> None:
    """A message in the window's thread in the team channel; the thread (header and checklist) is
    started by the first message that needs it."""
    anchor = ctx.session.get(OutboundMessage, window.thread_message_id) if window.thread_message_id else None
    if anchor is None:
        if not create:
            return
        head_text, head_blocks = views.header(ctx.playbook.windows, window)
        anchor = outbox.post(ctx.session, ctx.now, ctx.playbook.windows.channel, head_text, head_blocks,
                             purpose=f"window:{window.id}:header")
        ctx.session.flush()
        list_text, list_blocks = views.checklist(ctx.playbook.windows, window, ticks_of(ctx.session, window))
        listing = outbox.reply(ctx.session, ctx.now, anchor, list_text, list_blocks,
                               purpose=f"window:{window.id}:checklist")
        ctx.session.flush()
        window.thread_message_id, window.checklist_message_id = anchor.id, listing.id
        ctx.session.add(window)
    outbox.reply(ctx.session, ctx.now, anchor, text, blocks, purpose=f"window:{window.id}")


def ticks_of(session: Session, window: MaintenanceWindow) -> dict[str, MaintenanceCheck]:
    return {t.item_key: t for t in session.exec(select(MaintenanceCheck)
                                                .where(MaintenanceCheck.window_id == window.id)).all()}


# -- the checklist ----------------------------------------------------------------------------------
def tick(ctx: Ctx, window_id: int, item_key: str, user: str) -> str:
    """Tick an item (who and when); the checklist message is edited to show it."""
    window = get(ctx.session, window_id)
    found = ctx.playbook.windows.item(item_key)
    if found is None:
        raise Refusal("That checklist item is no longer in the playbook.")
    stage, item = found
    if window.status == CANCELLED:
        raise Refusal(f"{window.ref} is cancelled; its checklist is closed.")
    existing = _record_tick(ctx, window, stage, item_key, user)
    if existing is not None:
        return f"“{item.text}” was already ticked by {who(existing.done_by)}."
    return f"Ticked “{item.text}” for {window.ref}."


def _record_tick(ctx: Ctx, window: MaintenanceWindow, stage: str, item_key: str, user: str) -> MaintenanceCheck | None:
    """Record the tick and show it on the checklist; the earlier tick when there was one."""
    existing = ticks_of(ctx.session, window).get(item_key)
    if existing is None:
        try:
            with ctx.session.begin_nested():
                ctx.session.add(MaintenanceCheck(window_id=window.id, stage=stage, item_key=item_key,
                                                 done_by=user, done_at=ctx.now))
        except IntegrityError:  # a concurrent click won
            existing = ticks_of(ctx.session, window).get(item_key)
    if existing is not None:
        return existing
    anchor = ctx.session.get(OutboundMessage, window.checklist_message_id) if window.checklist_message_id else None
    if anchor is not None:
        text, blocks = views.checklist(ctx.playbook.windows, window, ticks_of(ctx.session, window))
        outbox.edit(ctx.session, ctx.now, anchor, text, blocks, purpose=f"window:{window.id}:checklist")
    return None


# -- reading ------------------------------------------------------------------------------------------
def upcoming(session: Session, now: datetime) -> list[MaintenanceWindow]:
    return list(session.exec(select(MaintenanceWindow).where(MaintenanceWindow.status == SCHEDULED)
                             .where(col(MaintenanceWindow.ends_at) > now)
                             .order_by(col(MaintenanceWindow.starts_at), col(MaintenanceWindow.id))).all())


def listing(ctx: Ctx) -> str:
    standing = [(rule, standing_rules.next_occurrence(rule, ctx.playbook.windows.zone, ctx.now))
                for rule in ctx.playbook.windows.standing]
    return views.window_list(ctx.playbook.windows, upcoming(ctx.session, ctx.now), standing, ctx.now)


def under_maintenance(session: Session, service: str | None, now: datetime) -> bool:
    """Whether a scheduled window is active at ``now`` and lists ``service`` (case-insensitive)."""
    if not service:
        return False
    wanted = service.casefold()
    active = session.exec(select(MaintenanceWindow.services).where(MaintenanceWindow.status == SCHEDULED)
                          .where(col(MaintenanceWindow.starts_at) <= now)
                          .where(col(MaintenanceWindow.ends_at) > now)).all()
    return any(wanted == str(name).casefold() for services in active for name in json.loads(services or "[]"))


def enable_request(ctx: Ctx, window_id: int) -> tuple[MaintenanceWindow, str]:
    """The window and the action the T-30m button requests; refused when it is not offered."""
    window = get(ctx.session, window_id)
    action = ctx.playbook.windows.enable_action
    if action not in ctx.playbook.actions:
        raise Refusal(f"The playbook does not declare `{action}`; enable maintenance mode by hand.")
    if window.status != SCHEDULED or window.ends_at <= ctx.now:
        raise Refusal(f"{window.ref} is {window.status if window.status != SCHEDULED else 'over'}; "
                          "nothing to enable for it.")
    return window, action

