"""Polling for background work to land (bounded; never a bare sleep as a wait), and stopping the
servers fixtures start: the sandbox's own helpers, so tests and the product wait and stop alike."""

from __future__ import annotations

from bot.sandbox.services.process import stop_process
from bot.sandbox.services.process import wait_for as eventually

__all__ = ["eventually", "stop_process"]
