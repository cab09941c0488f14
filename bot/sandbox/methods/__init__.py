"""The Web API methods the sandbox implements: name -> handler(state, args) -> response body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.sandbox.methods import canvases, chat, conversations, directory, files, items, views
from bot.sandbox.methods.args import Args
from bot.sandbox.state import State

Handler = Callable[[State, Args], dict[str, Any]]

METHODS: dict[str, Handler] = {
    **canvases.METHODS,
    **chat.METHODS,
    **conversations.METHODS,
    **directory.METHODS,
    **files.METHODS,
    **items.METHODS,
    **views.METHODS,
}
