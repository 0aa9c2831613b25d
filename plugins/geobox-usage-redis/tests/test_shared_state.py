"""The cache, the breaker and the retry budget, shared by processes through Redis."""

from __future__ import annotations

import asyncio

import pytest
from geobox_usage import (
    CacheConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    GeoboxError,
    RetryConfig,
)
from geobox_usage.testing import Fault, FaultPlan, SimulatedGeobox

from ._fleet import run_worker
from ._redis import RedisServer
from .conftest import fleet_client


async def test_a_cached_entry_is_served_to_another_process_and_an_update_invalidates_it(
    redis_server: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    url = redis_server.url
    written = await run_worker("read", url, prefix, sim.base_url)  # process A caches it
    assert sim.count("GET", "usage/summary") == 1
    client, _ = fleet_client(sim, url, prefix, cache=CacheConfig(ttl=60.0))
    async with client:
        assert await client.get_usage_summary() == written["data"]  # served from Redis
        assert sim.count("GET", "usage/summary") == 1
        await run_worker("update", url, prefix, sim.base_url)  # process B updates
        await client.get_usage_summary()  # invalidated here too
        assert sim.count("GET", "usage/summary") == 2
    again = await run_worker("read", url, prefix, sim.base_url)  # and for process A
    assert sim.count("GET", "usage/summary") == 2  # it got the entry stored after the update
    assert again["data"] != written["data"]  # the summary counts the update


async def test_one_process_failures_open_the_breaker_for_the_others(
    redis_server: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    sim.faults = FaultPlan().random("usage/summary", 1.0, [Fault.status(500)])
    result = await run_worker("fail", redis_server.url, prefix, sim.base_url, 3)
    assert result["errors"] == ["ServerError"] * 3  # threshold 3: open now
    sent = sim.count("GET", "usage/summary")
    breaker = CircuitBreakerConfig(failure_threshold=3, cooldown=30.0)
    client, _ = fleet_client(sim, redis_server.url, prefix, circuit_breaker=breaker)
    async with client:
        for _ in range(5):
            with pytest.raises(CircuitOpenError) as caught:
                await client.get_usage_summary()
            assert 0 < caught.value.retry_in <= 30.0
    assert sim.count("GET", "usage/summary") == sent  # nothing sent from this process


async def test_the_retry_budget_bounds_the_fleet_retries_during_an_outage(
    redis_server: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    sim.faults = FaultPlan().random("usage/summary", 1.0, [Fault.status(503)])
    # no share of requests, a floor of 1 retry/s: 10 retries per 10 s window, fleet-wide
    retry = RetryConfig(
        attempts=5, backoff_base=0.001, backoff_max=0.002, budget_ratio=0.0, budget_min_per_s=1.0
    )
    fleet = [
        fleet_client(
            sim,
            redis_server.url,
            prefix,
            retry=retry,
            circuit_breaker=None,
            disable_plugins=("cache",),
        )[0]
        for _ in range(4)
    ]
    calls = 10
    try:
        results = await asyncio.gather(
            *(c.get_usage_summary() for c in fleet for _ in range(calls)), return_exceptions=True
        )
    finally:
        for c in fleet:
            await c.close()
    assert all(isinstance(r, GeoboxError) for r in results)
    attempts = sim.count("GET", "usage/summary")
    retries = attempts - len(fleet) * calls
    # each process alone would allow 10: 40 for the fleet; shared, 10 for all
    assert 0 < retries <= 10, retries
