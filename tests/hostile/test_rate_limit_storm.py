"""Issue 9, item 8: a short 429 storm must not strand calls behind a stale rate.

A transport that answers 429 (``Retry-After: 0``) for the first three seconds of virtual
time and 200 afterwards, behind the real retry and rate limit stages: 2,000 calls, 200
at a time. Most fail fast (the retry budget, by design); none may be left queued at a
rate the limiter no longer has, and the rate is cut at most once per round.
"""

from __future__ import annotations

import asyncio
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from geobox_usage import (
    GeoboxTimeoutError,
    PipelineStage,
    RateLimitConfig,
    RateLimitError,
    Request,
    Response,
    RetryConfig,
    specs,
)
from geobox_usage.events import EventBus, PipelineEvent
from geobox_usage.pipeline import Pipeline, Slot
from geobox_usage.stages.ratelimit import RateLimitStage
from geobox_usage.stages.retry import RetryStage

from ._virtual import VirtualClock

STORM_S = 3.0


class StormTransport:
    """429 with ``Retry-After: 0`` until ``STORM_S`` of virtual time, then 200."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.sent = 0

    async def send(self, request: Request) -> Response:
        self.sent += 1
        await asyncio.sleep(0)
        if self.clock.now < STORM_S:
            raise RateLimitError(
                status=429,
                retry_after=0.0,
                headers=CIMultiDictProxy(CIMultiDict({"Retry-After": "0"})),
                operation=request.operation,
            )
        body = b'{"ok": true}'
        return Response(request, 200, CIMultiDictProxy(CIMultiDict()), body, {"ok": True})

    async def aclose(self) -> None:
        return None


async def test_a_short_429_storm_strands_no_call() -> None:
    clock = VirtualClock()
    events: list[PipelineEvent] = []
    bus = EventBus((events.append,))
    limiter = RateLimitStage(RateLimitConfig(), clock, bus)
    retry = RetryStage(RetryConfig(), clock, bus)
    transport = StormTransport(clock)
    pipeline = Pipeline(
        [
            PipelineStage("retry", Slot.RETRY, retry),
            PipelineStage("rate_limit", Slot.RATE_LIMIT, limiter, aclose=limiter.aclose),
        ],
        transport,
    )
    finished_at: list[float] = []
    gate = asyncio.Semaphore(200)

    async def call(index: int) -> Any:
        request = Request(specs.USAGE_SUMMARY, "http://geobox.test/v1/usage/summary")
        async with gate:
            try:
                return await pipeline.send(request)
            finally:
                finished_at.append(clock.now)

    async def storm() -> list[Any]:
        return await asyncio.gather(*(call(i) for i in range(2000)), return_exceptions=True)

    async with asyncio.timeout(60):  # a hang guard in real time
        results = await clock.run(storm(), until=STORM_S + 30)
    await pipeline.aclose()

    timeouts = [r for r in results if isinstance(r, GeoboxTimeoutError)]
    slowdowns = [
        e for e in events if e.name == "geobox.ratelimit" and e.fields["action"] == "slowdown"
    ]
    late = [t for t in finished_at if t > STORM_S + 5.0]
    assert not timeouts
    # one cut per round: from the measured rate down to the floor is a dozen halvings
    assert len(slowdowns) <= 15, len(slowdowns)
    # the server is healthy after 3 s; queued calls follow the recovering rate
    assert not late, (len(late), max(late))
    assert limiter.waiting == 0
    assert any(isinstance(r, Response) for r in results)
