"""What every service the sandbox (and the test suite) starts shares: a free port on 127.0.0.1,
a bounded wait for it to answer, and a stop that never leaves a process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
HOST = "127.0.0.1"


class ServiceError(RuntimeError):
    """A service could not start (or did not answer in time); the message says why, for the operator."""


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1 (the service binds it next: a race is retried by callers
    that can tell)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for(probe: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, what: str = "") -> T:
    """``probe()``'s first truthy value, polled every ``interval`` s; ServiceError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: T = probe()
    while not last:
        if time.monotonic() > deadline:
            raise ServiceError(f"timed out after {timeout:g} s waiting for {what or probe}; last value: {last!r}")
        time.sleep(interval)
        last = probe()
    return last


def log_tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def check_running(proc: subprocess.Popen[bytes] | None, name: str, log: Path) -> None:
    """Raise ServiceError with the end of its log if the process has exited."""
    if proc is None or proc.poll() is not None:
        code = "never started" if proc is None else f"exited {proc.returncode}"
        raise ServiceError(f"{name} {code}: {log_tail(log).strip() or '(no output)'}")


def stop_process(proc: subprocess.Popen | None, *, timeout: float = 10, sig: signal.Signals = signal.SIGTERM) -> None:
    """Send ``sig`` to a service started in its own session (the whole group, so helpers it started go too),
    and SIGKILL the group if it has not stopped in ``timeout`` s."""
    if proc is None or proc.poll() is not None:
        return
    _signal_group(proc, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    try:
        if os.getpgid(proc.pid) == proc.pid:  # its own session: signal every process in it
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass
