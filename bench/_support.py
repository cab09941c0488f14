"""Shared set-up for benchmarks: the sandbox in this process, the bot as a real `opsbot serve` process."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.sandbox.server import SandboxServer
from tests.support.process import bot_process as run_bot


@contextmanager
def bot_process(sandbox: SandboxServer, workdir: Path) -> Iterator[str]:
    with run_bot(sandbox, f"sqlite:///{workdir}/bench.db", workdir / "bot.log") as url:
        yield url


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"n={len(ms)} p50={statistics.median(ms):.1f} ms p95={percentile(ms, 95):.1f} ms "
            f"p99={percentile(ms, 99):.1f} ms max={max(ms):.1f} ms")


@contextmanager
def databases(tmp: Path, name: str, postgresql: bool = True) -> Iterator[list[tuple[str, str]]]:
    """SQLite in ``tmp``, and a throwaway PostgreSQL of the bench's own when it can be started."""
    urls = [("SQLite", f"sqlite:///{tmp}/{name}.db")]
    if not postgresql:
        yield urls
        return
    try:
        from bot.sandbox.services.postgres import PostgresServer
        server = PostgresServer().start()
    except Exception as exc:  # noqa: BLE001 - PostgreSQL is optional for the benches
        print(f"(PostgreSQL skipped: {exc})")
        yield urls
        return
    try:
        yield [*urls, ("PostgreSQL", server.create_database(f"bench_{name}"))]
    finally:
        server.stop()
