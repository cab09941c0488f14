"""The maintenance-window domain's entry points: each runs one unit of work (``bot.work``) around
the rules in ``service``."""

from __future__ import annotations

import math

from sqlmodel import select

from bot.executor.service import RunRequest
from bot.refusal import Refusal
from bot.windows import service, views
from bot.windows.forms import WindowForm, parse_start
from bot.work import SIMULTANEOUS, Ctx, UnitOfWork
from storage.windows import MaintenanceWindow


def schedule_form(work: UnitOfWork, user: str) -> dict:
    """The form to schedule a window, for the pack's planners only."""

    def form(ctx: Ctx) -> dict:
        service.check_planner(ctx, user)
        return views.schedule_modal(ctx.playbook.windows)

    return work(form)


def schedule(work: UnitOfWork, form: WindowForm, user: str, request_key: str | None) -> tuple[int, bool]:
    """The window's id and whether this submission created it (a repeated form finds the first)."""

    def first_of_the_same_form() -> tuple[int, bool]:  # it won a race in another worker or replica
        existing = work(lambda ctx: ctx.session.exec(
            select(MaintenanceWindow.id).where(MaintenanceWindow.request_key == request_key)).first())
        if existing is None:
            raise Refusal(SIMULTANEOUS)
        return existing, False

    def recorded(ctx: Ctx) -> tuple[int, bool]:
        service.check_planner(ctx, user)
        window, created = service.schedule(ctx, form, user, request_key)
        assert window.id is not None
        return window.id, created

    return work(recorded, on_conflict=first_of_the_same_form if request_key else None)


def listing(work: UnitOfWork) -> str:
    return work(service.listing)


def cancel(work: UnitOfWork, window_id: int, user: str) -> str:
    def cancelled(ctx: Ctx) -> str:
        service.check_planner(ctx, user)
        return service.cancel(ctx, window_id, user)

    return work(cancelled)


def move(work: UnitOfWork, window_id: int, start_text: str, user: str) -> str:
    def moved(ctx: Ctx) -> str:
        service.check_planner(ctx, user)
        settings = ctx.playbook.windows
        try:
            start = parse_start(start_text, settings.zone, ctx.now)
        except ValueError as exc:
            raise Refusal(f"{exc} (in {settings.timezone})") from None
        return service.move(ctx, window_id, start, user)

    return work(moved)


def tick(work: UnitOfWork, window_id: int, item_key: str, user: str) -> str:
    return work(lambda ctx: service.tick(ctx, window_id, item_key, user))


def enable_request(work: UnitOfWork, window_id: int, user: str, channel_id: str) -> RunRequest:
    """The T-30m button's request of the enable action, with only the parameters it declares: the
    window as the reason, the time left until its end as the ETA. The executor then applies its
    approvals, lock and audit as for any request; the button grants nothing."""

    def offered(ctx: Ctx) -> RunRequest:
        window, action = service.enable_request(ctx, window_id)
        declared = ctx.playbook.actions[action].parameters
        minutes = max(1, math.ceil((window.ends_at - max(ctx.now, window.starts_at)).total_seconds() / 60))
        title = " ".join(window.title.split())  # one line, as the flag file and the page hold it
        values = {"reason": f"Maintenance window {window.ref}: {title}"[:200], "eta": f"{minutes}m"}
        return RunRequest(action=action, params={name: value for name, value in values.items() if name in declared},
                          requested_by=user, channel_id=channel_id, source="command")

    return work(offered)
