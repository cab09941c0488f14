"""How a handler is declared, for every surface: an async module function whose first parameter is
the runtime, registered by a decorator that says what it answers.

    @command("/ops")
    async def ops(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:

Bolt passes the other parameters by name (``ack``, ``body``, ``command``, ``view``, ``respond``,
``client``, ``event``, ``context``), as for any Bolt listener; HTTP endpoints (``@route``) take the
Starlette request. ``bot/app.py`` binds every listener of the modules it lists to one runtime.

Slack gets its answer as soon as a handler has called ``ack`` (an event: at once), while the
handler goes on in the background: Bolt's own way to do that polls for the ack every 10 ms, which
costs each acknowledgement up to 10 ms and the event loop a wake-up per waiting request.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import structlog
from slack_bolt.async_app import AsyncApp
from starlette.routing import Route

from bot.runtime import Runtime

log = structlog.get_logger(__name__)
Handler = Callable[..., Awaitable[Any]]
Kind = Literal["command", "action", "view", "event", "shortcut"]


@dataclass(frozen=True)
class _Listener:
    kind: Kind
    matches: str | re.Pattern[str]
    fn: Handler


@dataclass(frozen=True)
class _Endpoint:
    path: str
    methods: tuple[str, ...]
    fn: Handler


_LISTENERS: list[_Listener] = []
_ENDPOINTS: list[_Endpoint] = []
_RUNNING: set[asyncio.Future[Any]] = set()  # handlers still at work after their ack (kept from the GC)


def _listens(kind: Kind, matches: str | re.Pattern[str]) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _LISTENERS.append(_Listener(kind, matches, fn))
        return fn

    return register


def command(name: str) -> Callable[[Handler], Handler]:
    """A slash command (``/incident``)."""
    return _listens("command", name)


def action(action_id: str | re.Pattern[str]) -> Callable[[Handler], Handler]:
    """A button (its ``action_id``)."""
    return _listens("action", action_id)


def view(callback_id: str) -> Callable[[Handler], Handler]:
    """A form's submission (the modal's ``callback_id``)."""
    return _listens("view", callback_id)


def shortcut(callback_id: str) -> Callable[[Handler], Handler]:
    """A global or message shortcut (its ``callback_id`` in manifest.yaml)."""
    return _listens("shortcut", callback_id)


def event(event_type: str) -> Callable[[Handler], Handler]:
    """An Events API event (``message``)."""
    return _listens("event", event_type)


def route(path: str, *, methods: Iterable[str]) -> Callable[[Handler], Handler]:
    """An HTTP endpoint beside ``/slack/events`` (webhooks, the status page)."""
    def register(fn: Handler) -> Handler:
        _ENDPOINTS.append(_Endpoint(path, tuple(methods), fn))
        return fn

    return register


def bind(app: AsyncApp, rt: Runtime, modules: Iterable[ModuleType]) -> None:
    """Register the Slack listeners of ``modules`` with ``app``, each bound to ``rt``, in the order of
    ``modules`` and then of their definitions: Bolt tries listeners in that order until one matches,
    so the busiest (``/incident``) should come first."""
    for module in modules:
        for listener in _LISTENERS:
            if listener.fn.__module__ == module.__name__:
                getattr(app, listener.kind)(listener.matches)(_answered_at_ack(listener.fn, rt))


def _answered_at_ack(fn: Handler, rt: Runtime) -> Handler:
    """``fn`` bound to ``rt``, as a Bolt listener that returns once ``fn`` has acknowledged (for
    Bolt's ``process_before_response=True``, which answers Slack when the listener returns)."""
    names = list(inspect.signature(fn).parameters)[1:]

    async def listener(**kwargs: Any) -> None:
        acked = asyncio.Event()
        if "ack" in kwargs:
            ack = kwargs["ack"]

            async def ack_then_answer(*args: Any, **values: Any) -> None:
                try:
                    await ack(*args, **values)
                finally:
                    acked.set()

            kwargs["ack"] = ack_then_answer
        else:  # an event: Bolt acknowledges it when this returns
            acked.set()
        work = asyncio.ensure_future(fn(rt, **kwargs))
        waiting = asyncio.ensure_future(acked.wait())
        await asyncio.wait({work, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if work.done():
            work.result()  # a failure before the ack: Bolt logs it and answers 500
            return
        _RUNNING.add(work)
        work.add_done_callback(_finished)

    listener.__signature__ = inspect.Signature(  # type: ignore[attr-defined]  # what Bolt reads to pass arguments
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names])
    listener.__name__ = listener.__qualname__ = fn.__name__
    return listener


def _finished(work: asyncio.Future[Any]) -> None:
    _RUNNING.discard(work)
    if not work.cancelled() and work.exception() is not None:
        log.error("handler_failed_after_ack", exc_info=work.exception())


def routes(rt: Runtime, modules: Iterable[ModuleType]) -> list[Route]:
    """The HTTP endpoints of ``modules``, each bound to ``rt``."""
    names = {module.__name__ for module in modules}
    return [Route(e.path, functools.partial(e.fn, rt), methods=list(e.methods))
            for e in _ENDPOINTS if e.fn.__module__ in names]
