"""Writes gathered into batches (bot/gather.py): what arrives while a batch is written goes into
the next one, each caller gets its own result or failure, and a failed batch fails all of its
callers and nobody else."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.gather import Gathered
from bot.refusal import Refusal

pytestmark = pytest.mark.kind("unit")


def test_items_arriving_during_a_write_go_together_into_the_next_batch() -> None:
    batches: list[list[int]] = []
    release = threading.Event()

    def write(items: Sequence[int]) -> list[int | Exception]:
        batches.append(list(items))
        if len(batches) == 1:
            release.wait(5)  # the first batch is slow: the others arrive meanwhile
        return [Refusal(f"{i} is odd") if i % 2 else i * 10 for i in items]

    async def scenario() -> list[object]:
        gathered = Gathered(ThreadPoolExecutor(max_workers=1), write, in_flight=1)
        first = asyncio.ensure_future(gathered(0))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(gathered(i)) for i in range(1, 6)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(scenario())
    assert batches == [[0], [1, 2, 3, 4, 5]]
    assert results[0] == 0 and results[2] == 20 and results[4] == 40
    assert [str(r) for r in results if isinstance(r, Refusal)] == ["1 is odd", "3 is odd", "5 is odd"]


def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_runs() -> None:
    calls: list[list[str]] = []

    def write(items: Sequence[str]) -> list[str | Exception]:
        calls.append(list(items))
        if "boom" in items:
            raise RuntimeError("the database went away")
        return [item.upper() for item in items]

    async def scenario() -> tuple[list[object], str]:
        gathered = Gathered(ThreadPoolExecutor(max_workers=1), write, in_flight=1)
        failed = await asyncio.gather(gathered("boom"), return_exceptions=True)
        return failed, await gathered("fine")

    failed, fine = asyncio.run(scenario())
    assert isinstance(failed[0], RuntimeError) and fine == "FINE"
    assert calls == [["boom"], ["fine"]]
