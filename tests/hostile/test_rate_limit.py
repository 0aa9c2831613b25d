"""Rate limiting against servers that say absurd things, and against a storm of 429s."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any

import pytest

from geobox_usage import (
    AsyncGeoboxClient,
    RateLimitConfig,
    Request,
    RetryConfig,
    specs,
)
from geobox_usage.events import PipelineEvent
from geobox_usage.hookspecs import hookimpl
from geobox_usage.testing import DEMO_ACCESS_TOKEN, SimulatedGeobox
from tests.stages._helpers import FakeClock


class StepClock:
    """Time moves only when the test advances it; sleepers wake when their time comes."""

    def __init__(self) -> None:
        self.mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return 1_800_000_000.0 + self.mono

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.mono + seconds, next(self._order), future))
        await future

    async def advance(self, seconds: float) -> None:
        self.mono += seconds
        while self._sleepers and self._sleepers[0][0] <= self.mono:
            heapq.heappop(self._sleepers)[2].set_result(None)
        for _ in range(5):  # let the woken run until they sleep again or finish
            await asyncio.sleep(0)


# -- item 9: rates below one per period --------------------------------------------------


@pytest.mark.parametrize(("rate", "period", "gap"), [(0.5, 1.0, 2.0), (1, 10.0, 10.0)])
async def test_a_rate_below_one_per_period_spaces_requests(
    rate: float, period: float, gap: float
) -> None:
    clock = FakeClock()
    async with SimulatedGeobox() as sim, AsyncGeoboxClient(
        sim.base_url, access_token=DEMO_ACCESS_TOKEN, clock=clock, load_entrypoints=False,
        rate_limit=RateLimitConfig(rate=rate, period=period, adaptive=False),
    ) as client:  # fmt: skip
        started = clock.monotonic()
        for _ in range(3):
            await client.get_usage_summary()
    assert clock.monotonic() - started == pytest.approx(2 * gap)
    assert sim.count("GET", "usage/summary") == 3


# -- item 7: rate-limit headers that would disable the client ---------------------------


def _sim_saying(reset: str) -> SimulatedGeobox:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    return SimulatedGeobox(response_headers={"GET users/me/": headers})


@pytest.mark.parametrize(
    ("reset", "paused"),
    [("1000000000", None), ("3600", 60.0), (str(1_800_000_000 + 5), 5.0)],
    ids=["epoch-long-past", "an-hour-capped", "epoch-5s-ahead"],
)
async def test_the_pause_asked_by_headers_is_read_and_capped(
    reset: str, paused: float | None
) -> None:
    clock, events = FakeClock(), []  # FakeClock's wall time is 1_800_000_000
    async with _sim_saying(reset) as sim, AsyncGeoboxClient(
        sim.base_url, access_token=DEMO_ACCESS_TOKEN, clock=clock, load_entrypoints=False,
        plugins=[_Recorder(events)], retry=RetryConfig(deadline=600.0),
    ) as client:  # fmt: skip
        await client.get_user()
        before = clock.monotonic()
        await client.get_usage_summary()  # waits out the pause, if any
    pauses = [e.fields["pause_s"] for e in events if e.fields.get("action") == "pause"]
    assert pauses == ([] if paused is None else [pytest.approx(paused)])
    assert clock.monotonic() - before == pytest.approx(paused or 0.0)


class _Recorder:
    def __init__(self, events: list[PipelineEvent]) -> None:
        self.events = events

    @hookimpl
    def geobox_usage_listener(self, context: Any) -> Any:
        return self.events.append


def _request() -> Request:
    return Request(specs.USAGE_SUMMARY, "http://geobox.invalid/v1/usage/summary")
