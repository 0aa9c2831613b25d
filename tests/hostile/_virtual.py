"""A virtual clock for storms: time moves only when every task is waiting on it."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class VirtualClock:
    """A :class:`~geobox_usage.Clock` whose sleeps end when :meth:`run` moves time on.

    :meth:`run` lets every runnable task run, then jumps to the earliest pending sleep,
    so that seconds of limiter pacing take milliseconds and happen in the same order on
    every run.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_800_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        await future

    async def run(self, main: Awaitable[T], *, until: float) -> T:
        """Await ``main`` while moving virtual time; fail if it passes ``until``."""
        task = asyncio.ensure_future(main)
        while not task.done():
            for _ in range(50):  # let everything that can run, run
                await asyncio.sleep(0)
                if task.done():
                    break
            if task.done():
                break
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleeps
            if not self._sleepers:
                continue
            when, _, future = heapq.heappop(self._sleepers)
            if when > until:
                task.cancel()
                raise AssertionError(f"still running at virtual time {when:.3f}s > {until}s")
            self.now = max(self.now, when)
            future.set_result(None)
        return task.result()
