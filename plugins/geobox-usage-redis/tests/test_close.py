"""Closing a client closes its Redis connections, whichever stores use Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from geobox_usage import CacheConfig, CircuitBreakerConfig, RateLimitConfig
from geobox_usage.testing import SimulatedGeobox
from redis.asyncio import Redis

from ._redis import RedisServer
from .conftest import fleet_client


@pytest.fixture
async def probe(own_redis: RedisServer) -> AsyncIterator[Redis]:
    """One connection of the test's own, to ask the server how many clients it has."""
    client = Redis.from_url(own_redis.url)
    yield client
    await client.aclose()


async def connected(probe: Redis) -> int:
    info = await probe.info("clients")
    count: int = info["connected_clients"]
    return count


async def settles(probe: Redis, wanted: Callable[[int], bool]) -> int:
    """The connected-client count once ``wanted`` (or after 2 s, as it is): the server
    learns of a closed socket a moment after the client closes it."""
    for _ in range(200):
        count = await connected(probe)
        if wanted(count):
            return count
        await asyncio.sleep(0.01)
    return count


@pytest.mark.parametrize(
    ("rate_limit", "cache", "breaker"),
    [
        (RateLimitConfig(rate=100, period=1.0), CacheConfig(ttl=60.0), CircuitBreakerConfig()),
        (RateLimitConfig(rate=100, period=1.0), None, CircuitBreakerConfig()),
        (None, CacheConfig(ttl=60.0), CircuitBreakerConfig()),
        (None, None, CircuitBreakerConfig()),  # only the breaker and the retry budget
        (None, None, None),  # only the retry budget
    ],
    ids=["all", "rate-limit-only", "cache-only", "breaker-and-budget", "budget-only"],
)
async def test_the_connection_is_closed_with_the_client(
    own_redis: RedisServer,
    probe: Redis,
    prefix: str,
    sim: SimulatedGeobox,
    rate_limit: RateLimitConfig | None,
    cache: CacheConfig | None,
    breaker: CircuitBreakerConfig | None,
) -> None:
    baseline = await connected(probe)
    client, events = fleet_client(
        sim, own_redis.url, prefix, rate_limit=rate_limit, cache=cache, circuit_breaker=breaker
    )
    async with client:
        for _ in range(3):
            await client.get_usage_summary()
        # Redis was used (the retry budget's flush may still be connecting)
        assert await settles(probe, lambda n: n > baseline) > baseline
    assert await settles(probe, lambda n: n == baseline) == baseline
    assert events.named("geobox.redis") == []  # closing is no outage
