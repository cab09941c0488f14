"""How a handler is declared, for every surface: an async module function whose first parameter is
the runtime, registered by a decorator that says what it answers.

    @command("/ops")
    async def ops(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:

Bolt passes the other parameters by name (``ack``, ``body``, ``command``, ``view``, ``respond``,
``client``, ``event``, ``context``), as for any Bolt listener; HTTP endpoints (``@route``) take the
Starlette request. ``bot/app.py`` binds every listener of the modules it lists to one runtime.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from slack_bolt.async_app import AsyncApp
from starlette.routing import Route

from bot.runtime import Runtime

Handler = Callable[..., Awaitable[Any]]
Kind = Literal["command", "action", "view", "event"]


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


def event(event_type: str) -> Callable[[Handler], Handler]:
    """An Events API event (``message``)."""
    return _listens("event", event_type)


def route(path: str, *, methods: Iterable[str]) -> Callable[[Handler], Handler]:
    """An HTTP endpoint beside ``/slack/events`` (webhooks, the status page)."""
    def register(fn: Handler) -> Handler:
        _ENDPOINTS.append(_Endpoint(path, tuple(methods), fn))
        return fn

    return register


def _of(modules: Iterable[ModuleType]) -> set[str]:
    return {module.__name__ for module in modules}


def bind(app: AsyncApp, rt: Runtime, modules: Iterable[ModuleType]) -> None:
    """Register the Slack listeners of ``modules`` with ``app``, each bound to ``rt``."""
    names = _of(modules)
    for listener in _LISTENERS:
        if listener.fn.__module__ in names:
            getattr(app, listener.kind)(listener.matches)(functools.partial(listener.fn, rt))


def routes(rt: Runtime, modules: Iterable[ModuleType]) -> list[Route]:
    """The HTTP endpoints of ``modules``, each bound to ``rt``."""
    names = _of(modules)
    return [Route(e.path, functools.partial(e.fn, rt), methods=list(e.methods))
            for e in _ENDPOINTS if e.fn.__module__ in names]
