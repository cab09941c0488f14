"""Polling for background work to land (bounded; never a bare sleep as a wait)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, what: str = "") -> T:
    """Return probe()'s first truthy value, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or probe}; last value: {last!r}")
        time.sleep(interval)
        last = probe()
    return last


def stop_process(proc: subprocess.Popen | None, *, timeout: float = 10) -> None:
    """SIGTERM a server started by a fixture, and SIGKILL it if it has not stopped in ``timeout`` s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
