"""Units of work for the `/maintenance` window subcommands and buttons: one transaction each
around a service call, then delivery of what it queued. Handlers call these off the event loop."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.engine import Engine

from bot.clock import Clock
from bot.executor.approvals import Directory
from bot.windows import service
from bot.windows.models import WindowError, WindowForm, parse_start
from playbooks.models import Playbook
from storage.db import session_scope

T = TypeVar("T")


class WindowDesk:
    def __init__(self, engine: Engine, playbook: Playbook, clock: Clock, directory: Directory,
                 kick_delivery: Callable[[], None] | None = None) -> None:
        self._directory = directory
        self._engine = engine
        self._playbook = playbook
        self._clock = clock
        self._kick = kick_delivery

    def _unit(self, fn: Callable[[service.Ctx], T]) -> T:
        with session_scope(self._engine) as session:
            result = fn(service.Ctx(session, self._clock(), self._playbook))
        if self._kick:
            self._kick()
        return result

    def now(self) -> datetime:
        return self._clock()

    def may_plan(self, user: str) -> str | None:
        """Why ``user`` may not schedule, move or cancel windows; None when they may."""
        try:
            service.check_planner(self._playbook.windows, user, self._directory)
        except WindowError as exc:
            return str(exc)
        return None

    def schedule(self, form: WindowForm, user: str, request_key: str | None) -> tuple[int, bool]:
        service.check_planner(self._playbook.windows, user, self._directory)

        def work(ctx: service.Ctx) -> tuple[int, bool]:
            window, created = service.schedule(ctx, form, user, request_key)
            assert window.id is not None
            return window.id, created
        return self._unit(work)

    def listing(self) -> str:
        return self._unit(service.listing)

    def cancel(self, window_id: int, user: str) -> str:
        service.check_planner(self._playbook.windows, user, self._directory)
        return self._unit(lambda ctx: service.cancel(ctx, window_id, user))

    def move(self, window_id: int, start_text: str, user: str) -> str:
        service.check_planner(self._playbook.windows, user, self._directory)

        def work(ctx: service.Ctx) -> str:
            try:
                start = parse_start(start_text, ctx.settings.zone, ctx.now)
            except ValueError as exc:
                raise WindowError(f"{exc} (in {ctx.settings.timezone})") from None
            return service.move(ctx, window_id, start, user)
        return self._unit(work)

    def tick(self, window_id: int, item_key: str, user: str) -> str:
        return self._unit(lambda ctx: service.tick(ctx, window_id, item_key, user))

    def enable_params(self, window_id: int) -> tuple[str, dict[str, str]]:
        """The action the T-30m button requests and its parameters (only those it declares): the
        window as the reason, the time left until its end as the ETA."""
        def work(ctx: service.Ctx) -> tuple[str, dict[str, str]]:
            window, action = service.enable_request(ctx, window_id)
            declared = ctx.playbook.actions[action].parameters
            minutes = max(1, math.ceil((window.ends_at - max(ctx.now, window.starts_at)).total_seconds() / 60))
            title = " ".join(window.title.split())  # one line, as the flag file and the page hold it
            offered = {"reason": f"Maintenance window {window.ref}: {title}"[:200], "eta": f"{minutes}m"}
            return action, {name: value for name, value in offered.items() if name in declared}
        with session_scope(self._engine) as session:
            return work(service.Ctx(session, self._clock(), self._playbook))
