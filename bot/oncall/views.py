"""On-call texts: `/oncall` answers, the messages people get when their shifts change, and the
handoff briefing. Times are shown in the schedule's time zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.oncall.rota import Segment
from playbooks.oncall import OncallSchedule
from storage.followups import FollowUp
from storage.models import Incident
from storage.windows import MaintenanceWindow


def when(moment: datetime, schedule: OncallSchedule) -> str:
    return moment.astimezone(schedule.zone).strftime("%a %d %b %H:%M")


def span(start: datetime, end: datetime, schedule: OncallSchedule) -> str:
    return f"{when(start, schedule)} to {when(end, schedule)} ({schedule.timezone})"


def now_and_next(name: str, schedule: OncallSchedule, current: Segment | None, following: Segment | None,
                 feed: str) -> str:
    now = (f"<@{current.user}> until {when(current.end, schedule)}" + (" (override)" if current.source < 0 else "")
           if current else "nobody")
    nxt = f"<@{following.user}> from {when(following.start, schedule)}" if following else "nobody scheduled"
    group = f" · {schedule.usergroup}" if schedule.usergroup else ""
    return f"*{name}*{group} ({schedule.timezone}): now {now}; next {nxt} · <{feed}|calendar>"


def mine(shifts: Sequence[tuple[str, OncallSchedule, Segment]], horizon: timedelta, feed: str) -> str:
    if not shifts:
        lines = [f"You have no on-call shifts in the next {horizon.days} days."]
    else:
        lines = ["*Your next on-call shifts*"]
        lines += [f"• *{name}*: {span(seg.start, seg.end, schedule)}" + (" (override)" if seg.source < 0 else "")
                  for name, schedule, seg in shifts[:20]]
    lines.append(f"Your calendar (keep this link to yourself): {feed}")
    return "\n".join(lines)


def override_done(name: str, user: str, when_: str, displaced: Sequence[str]) -> str:
    over = f", over {', '.join(f'<@{u}>' for u in displaced)}" if displaced else ""
    return f":white_check_mark: <@{user}> is on call for *{name}* {when_}{over}. They have been told."


def overridden_in(name: str, when_: str, actor: str) -> str:
    return f":pager: <@{actor}> put you on call for *{name}* {when_} (an override)."


def overridden_out(name: str, when_: str, actor: str, user: str) -> str:
    return (f":pager: <@{actor}> put <@{user}> on call for *{name}* {when_}; "
            "you are not on call for that part of your shift.")


def swap_done(name: str, user: str, when_: str) -> str:
    return f":white_check_mark: <@{user}> takes your *{name}* shift {when_}. They have been told."


def swapped_in(name: str, when_: str, actor: str) -> str:
    return f":pager: <@{actor}> handed you their *{name}* shift {when_} (a swap)."


def briefing(name: str, schedule: OncallSchedule, incoming: bool, start: datetime, end: datetime,
             incidents: Sequence[Incident], followups: Sequence[FollowUp],
             windows: Sequence[MaintenanceWindow]) -> str:
    head = (f":pager: You are now on call for *{name}* until {when(end, schedule)} ({schedule.timezone})."
            if incoming else f":wave: Your *{name}* shift is over; here is what it leaves.")
    lines = [head, f"*Open incidents* ({len(incidents)})"]
    lines += [f"• {i.ref} ({i.severity}) {i.title}" + (f" <#{i.channel_id}>" if i.channel_id else "")
              for i in incidents[:15]] or ["• none"]
    lines.append(f"*Follow-ups due* {start.astimezone(schedule.zone):%d %b}–{end.astimezone(schedule.zone):%d %b}")
    lines += [f"• {f.ref} due {f.due_on:%a %d %b}, <@{f.owner}>: {f.text[:120]}" for f in followups[:15]] or ["• none"]
    lines.append("*Maintenance windows*")
    lines += [f"• {w.ref} {w.title}: {span(w.starts_at, w.ends_at, schedule)}" for w in windows[:15]] or ["• none"]
    return "\n".join(lines)
