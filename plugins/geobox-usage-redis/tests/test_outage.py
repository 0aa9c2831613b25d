"""Redis lost mid-run: calls go on with local state (or fail closed), one warning."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from geobox_usage import AsyncGeoboxClient, CacheConfig, GeoboxError, RateLimitConfig
from geobox_usage.testing import Fault, FaultPlan, SimulatedGeobox

from geobox_usage_redis import SharedStateUnavailableError

from ._redis import RedisServer
from .conftest import Events, fleet_client

LIMIT = RateLimitConfig(rate=2, period=0.5, adaptive=False)


async def keep_calling(clients: list[AsyncGeoboxClient], stop: asyncio.Event) -> list[str]:
    """Call from every client until ``stop``; the names of the errors raised."""
    errors: list[str] = []

    async def loop(client: AsyncGeoboxClient) -> None:
        while not stop.is_set():
            try:
                await client.get_usage_summary()
            except GeoboxError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(loop(c) for c in clients))
    return errors


async def test_killing_redis_mid_run_fails_no_call_and_the_budget_returns_with_it(
    own_redis: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    made = [
        fleet_client(
            sim,
            own_redis.url,
            prefix,
            rate_limit=LIMIT,
            retry_interval=0.1,
            disable_plugins=("cache",),
        )
        for _ in range(2)
    ]
    clients = [c for c, _ in made]
    recorders: list[Events] = [e for _, e in made]
    async with clients[0], clients[1]:
        stop = asyncio.Event()
        calling = asyncio.create_task(keep_calling(clients, stop))
        await asyncio.sleep(0.3)
        own_redis.stop()  # mid-run
        await asyncio.sleep(0.6)
        own_redis.start()
        await asyncio.sleep(0.6)
        stop.set()
        assert await calling == []  # no call failed because Redis went away
        for recorder in recorders:
            states = [e["state"] for e in recorder.named("geobox.redis")]
            assert states == ["lost", "restored"]  # one warning for the outage
        # the shared budget is enforced again: 6 calls at 2 per 0.5 s across both clients
        sim.reset_log()
        started = time.monotonic()
        await asyncio.gather(*(c.get_usage_summary() for c in clients for _ in range(3)))
        assert time.monotonic() - started >= 0.95
    assert sim.count("GET", "usage/summary") == 6


async def test_fail_closed_refuses_calls_while_redis_is_lost(
    own_redis: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    client, events = fleet_client(
        sim, own_redis.url, prefix, rate_limit=LIMIT, fail_closed=True, retry_interval=0.1
    )
    async with client:
        await client.get_usage_summary()
        own_redis.stop()
        with pytest.raises(SharedStateUnavailableError) as caught:
            await client.get_usage_summary()
        assert caught.value.request_sent is False
        assert "Redis" in str(caught.value) and "fail closed" in str(caught.value)
        assert own_redis.url not in str(caught.value)
        own_redis.start()
        await asyncio.sleep(0.15)
        await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 2
    assert [e["state"] for e in events.named("geobox.redis")] == ["lost", "restored"]


async def test_cached_reads_use_the_local_store_while_redis_is_lost(
    own_redis: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    client, events = fleet_client(sim, own_redis.url, prefix, cache=CacheConfig(ttl=60.0))
    async with client:
        await client.get_usage_summary()  # stored in Redis
        own_redis.stop()
        await client.get_usage_summary()  # a miss: Redis is lost, stored locally
        await client.get_usage_summary()  # a hit, from the local store
        assert sim.count("GET", "usage/summary") == 2
        await client.update_usage()  # invalidates the local entries too
        await client.get_usage_summary()
        assert sim.count("GET", "usage/summary") == 3
    assert [e["state"] for e in events.named("geobox.redis")] == ["lost"]


def rate_stage(client: AsyncGeoboxClient) -> Any:
    return next(s.stage for s in client.pipeline.stages if s.name == "rate_limit")


async def test_losing_and_regaining_redis_changes_no_rate_by_itself(
    own_redis: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    sim.faults = FaultPlan().sequence("usage/summary", Fault.status(429, retry_after=0.001))
    client, events = fleet_client(
        sim,
        own_redis.url,
        prefix,
        rate_limit=RateLimitConfig(rate=100, period=1.0),
        retry_interval=0.05,
        disable_plugins=("cache",),
    )
    async with client:
        await client.get_usage_summary()  # 429 then success: the fleet's rate is cut
        stage = rate_stage(client)
        cut = stage.rate
        assert cut is not None and cut < 100.0
        own_redis.stop()
        await client.get_usage_summary()  # Redis lost: local state, from the fleet's
        assert stage.rate is not None and cut <= stage.rate < 100.0  # still recovering
        own_redis.start()
        await asyncio.sleep(0.06)
        await client.get_usage_summary()  # Redis again
        assert stage.rate is not None and cut <= stage.rate < 100.0
    assert [e["state"] for e in events.named("geobox.redis")] == ["lost", "restored"]
    assert [e["action"] for e in events.named("geobox.ratelimit")] == ["slowdown"]


async def test_a_429_during_the_outage_is_shared_when_redis_returns(
    own_redis: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    config = RateLimitConfig(rate=100, period=1.0)
    client, events = fleet_client(
        sim,
        own_redis.url,
        prefix,
        rate_limit=config,
        retry_interval=0.05,
        disable_plugins=("cache",),
    )
    other, _ = fleet_client(sim, own_redis.url, prefix, rate_limit=config)
    async with client, other:
        await client.get_usage_summary()
        own_redis.stop()
        sim.faults = FaultPlan().sequence("usage/summary", Fault.status(429, retry_after=0.001))
        await client.get_usage_summary()  # 429 then success: the local rate is cut
        cut = rate_stage(client).rate
        assert cut is not None and cut < 100.0
        own_redis.start()
        await asyncio.sleep(0.06)
        await client.get_usage_summary()  # Redis again: the cut is shared, not undone
        assert rate_stage(client).rate is not None and rate_stage(client).rate < 100.0
        await other.get_usage_summary()
        assert rate_stage(other).rate is not None and rate_stage(other).rate < 100.0
    assert [e["action"] for e in events.named("geobox.ratelimit")] == ["slowdown"]
