"""Counters the bot keeps since it started, and gauges read when scraped, served at ``GET /metrics`` in
Prometheus' text format."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable


class Counters:
    """One counter family: a count per label value (the outcomes of alert webhooks, say)."""

    def __init__(self, name: str, help_text: str, label: str, values: Iterable[str]) -> None:
        self.name = name
        self.help_text = help_text
        self.label = label
        self._counts = dict.fromkeys(values, 0)
        self._lock = threading.Lock()

    def add(self, value: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[value] += amount

    def render(self) -> str:
        with self._lock:
            counts = dict(self._counts)
        lines = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} counter"]
        lines += [f'{self.name}{{{self.label}="{value}"}} {count}' for value, count in counts.items()]
        return "\n".join(lines) + "\n"


class Gauge:
    """One value read when scraped (the scheduler's lag, say): ``read`` is called by ``render``, as
    prometheus_client's ``Gauge.set_function`` would."""

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.name = name
        self.help_text = help_text
        self.read = read

    def render(self) -> str:
        return f"# HELP {self.name} {self.help_text}\n# TYPE {self.name} gauge\n{self.name} {self.read():.3f}\n"
