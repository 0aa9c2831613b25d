"""Cancelling calls while they wait: nothing retried, nothing leaked, nothing more sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from geobox_usage import (
    AsyncGeoboxClient,
    RateLimitConfig,
    RetryConfig,
    TimeoutConfig,
)
from geobox_usage.testing import (
    DEMO_ACCESS_TOKEN,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    Fault,
    FaultPlan,
    SimulatedGeobox,
)

from .stages._resilience import InFlightProbe

CONCURRENCY = 10
CALLS = 100


@pytest.fixture
async def server() -> AsyncIterator[SimulatedGeobox]:
    async with SimulatedGeobox() as sim:
        yield sim


def make_client(sim: SimulatedGeobox, probe: InFlightProbe, **kwargs: Any) -> AsyncGeoboxClient:
    if "username" not in kwargs:
        kwargs["access_token"] = DEMO_ACCESS_TOKEN
    kwargs.setdefault("rate_limit", RateLimitConfig(max_concurrency=CONCURRENCY))
    return AsyncGeoboxClient(
        host=sim.base_url,
        retry=RetryConfig(deadline=30.0, budget_ratio=1.0),
        timeout=TimeoutConfig(connect=5, read=10),
        disable_plugins=("cache",),
        plugins=[probe],
        load_entrypoints=False,
        **kwargs,
    )


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):  # hang guard
        while not condition():
            await asyncio.sleep(0.005)


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results), results


async def new_calls_proceed_at_once(
    sim: SimulatedGeobox, client: AsyncGeoboxClient, probe: InFlightProbe
) -> None:
    """``max_concurrency`` new calls are all in flight together: no slot was leaked."""
    sim.faults = FaultPlan().random("usage/summary", 1.0, [Fault.delay(0.1)])
    probe.peak = 0
    async with asyncio.timeout(5):
        await asyncio.gather(*(client.get_usage_summary() for _ in range(CONCURRENCY)))
    assert probe.peak == CONCURRENCY


def calls(client: AsyncGeoboxClient, n: int = CALLS) -> list[asyncio.Task[Any]]:
    return [asyncio.create_task(client.get_process_usage(days_before_now=d + 1)) for d in range(n)]


async def test_cancelled_while_waiting_on_retry_after(server: SimulatedGeobox) -> None:
    server.faults = FaultPlan().random("usage/process", 1.0, [Fault.status(429, retry_after=5)])
    probe = InFlightProbe()
    async with make_client(
        server, probe, rate_limit=RateLimitConfig(max_concurrency=CALLS)
    ) as client:
        tasks = calls(client)
        await until(lambda: server.count("GET", "usage/process") == CALLS and probe.now == 0)
        await cancel_all(tasks)
        await asyncio.sleep(0.05)
        assert server.count("GET", "usage/process") == CALLS  # no retry went out
        await new_calls_proceed_at_once(server, client, probe)


async def test_cancelled_while_waiting_on_the_limiter_and_for_a_slot(
    server: SimulatedGeobox,
) -> None:
    probe = InFlightProbe()
    # The limiter: one request per 250 ms; the first call takes it, and the queue of
    # 100 fits in the 30 s deadline (a queue that would not is refused at once).
    limited = make_client(
        server, probe, rate_limit=RateLimitConfig(rate=1, period=0.25, adaptive=False)
    )
    async with limited as client:
        await client.get_usage_summary()
        tasks = calls(client)
        await asyncio.sleep(0.02)
        await cancel_all(tasks)
        await asyncio.sleep(0.3)
        assert server.count("GET", "usage/process") == 0
    # The concurrency cap: slots held by slow calls, 100 more waiting for one.
    server.faults = FaultPlan().random("usage/summary", 1.0, [Fault.delay(0.2)])
    probe = InFlightProbe()
    async with make_client(server, probe) as client:
        holders = [asyncio.create_task(client.get_usage_summary()) for _ in range(CONCURRENCY)]
        await until(lambda: probe.now == CONCURRENCY)
        tasks = calls(client)
        await asyncio.sleep(0.02)
        await cancel_all(tasks)
        await asyncio.gather(*holders)
        assert server.count("GET", "usage/process") == 0
        await new_calls_proceed_at_once(server, client, probe)


async def test_cancelled_while_waiting_on_a_token_refresh(server: SimulatedGeobox) -> None:
    probe = InFlightProbe()
    client = make_client(server, probe, username=DEMO_USERNAME, password=DEMO_PASSWORD)
    async with client:
        await client.get_usage_summary()
        server.expire_tokens()
        server.faults = FaultPlan().sequence("auth/token/", Fault.delay(5))
        tasks = calls(client)
        await until(lambda: server.token_requests == 2)
        seen = server.count("GET", "usage/process")
        await cancel_all(tasks)  # the refresher among them
        await asyncio.sleep(0.05)
        assert server.count("GET", "usage/process") == seen  # nothing more from them
        assert server.token_requests == 2
        server.faults = FaultPlan()
        await new_calls_proceed_at_once(server, client, probe)
    assert server.token_requests == 3


async def test_cancellation_is_not_turned_into_a_timeout(server: SimulatedGeobox) -> None:
    server.faults = FaultPlan().random("usage/summary", 1.0, [Fault.delay(1)])
    probe = InFlightProbe()
    async with make_client(server, probe) as client:
        with pytest.raises(TimeoutError):  # the caller's own timeout, not GeoboxTimeoutError
            async with asyncio.timeout(0.05):
                await client.get_usage_summary()
        assert probe.now == 0
        assert server.count("GET", "usage/summary") == 1


async def test_a_failing_task_group_cancels_calls_cleanly(server: SimulatedGeobox) -> None:
    server.faults = FaultPlan().random("usage/summary", 1.0, [Fault.status(503, retry_after=5)])
    probe = InFlightProbe()

    async def boom() -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("boom")

    async with make_client(server, probe) as client:

        async def group_of_calls() -> None:
            async with asyncio.TaskGroup() as group:
                for _ in range(20):
                    group.create_task(client.get_usage_summary())
                group.create_task(boom())

        with pytest.raises(ExceptionGroup) as caught:
            await group_of_calls()
        # only boom's error: the calls were cancelled, not turned into errors
        assert [type(e) for e in caught.value.exceptions] == [RuntimeError]
        assert server.count("GET", "usage/summary") == 20
        assert probe.now == 0
