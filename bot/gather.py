"""Writes of one kind that arrive while the previous batch is being written are written together:
one hop to a database thread, one transaction and one commit for all of them, and each caller
still gets its answer only once that commit is done.

For the hottest write on the request path (``/incident note``, docs/benchmarks.md): under load, the
hop to a thread and back costs a command more than the write itself (the event loop and the
database thread take turns with the GIL), so twenty notes in flight cost two or three hops, not
twenty."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


class Gathered(Generic[I, R]):
    def __init__(self, pool: Executor, write: Callable[[Sequence[I]], Sequence[R | Exception]], *,
                 in_flight: int = 2) -> None:
        """``write`` takes the batch and returns one result per item, in order (an exception is that
        item's failure); an exception it raises fails the whole batch."""
        self._pool = pool
        self._write = write
        self._in_flight = in_flight
        self._running = 0
        self._waiting: list[tuple[I, asyncio.Future[R]]] = []

    async def __call__(self, item: I) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._running < self._in_flight:
            self._start()
        return await future

    def _start(self) -> None:
        batch, self._waiting = self._waiting, []
        self._running += 1
        written = asyncio.get_running_loop().run_in_executor(self._pool, self._write, [item for item, _ in batch])
        written.add_done_callback(lambda done: self._settle(batch, done))

    def _settle(self, batch: list[tuple[I, asyncio.Future[R]]], done: asyncio.Future[Sequence[R | Exception]]) -> None:
        self._running -= 1
        failure = done.exception()
        results: Sequence[R | Exception] = [failure] * len(batch) if failure else done.result()
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller gave up (cancelled)
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if self._waiting:
            self._start()
