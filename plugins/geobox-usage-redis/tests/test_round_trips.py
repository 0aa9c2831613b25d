"""A cached read costs one round trip to Redis, counted at the redis-py client."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from geobox_usage import (
    CacheConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    RateLimitConfig,
    ServerError,
)
from geobox_usage.testing import Fault, FaultPlan, SimulatedGeobox
from redis.asyncio.client import Pipeline, Redis

from geobox_usage_redis._budget import SPEND

from ._redis import RedisServer
from .conftest import fleet_client

_BUDGET_FLUSH = hashlib.sha1(SPEND.encode()).hexdigest()


class RoundTrips:
    """Every command redis-py sends on its own, and every pipeline it executes.

    The retry budget's flush (at most once a second, in the background) is left out:
    it is not part of a read.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        command = Redis.execute_command
        execute = Pipeline.execute
        trips = self

        async def counted_command(self: Redis, *args: Any, **options: Any) -> Any:
            if not (args[0] == "EVALSHA" and args[1] == _BUDGET_FLUSH):
                trips.sent.append(str(args[0]))
            return await command(self, *args, **options)

        async def counted_pipeline(self: Pipeline, *args: Any, **options: Any) -> Any:
            trips.sent.append("pipeline")
            return await execute(self, *args, **options)

        monkeypatch.setattr(Redis, "execute_command", counted_command)
        monkeypatch.setattr(Pipeline, "execute", counted_pipeline)

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


async def test_a_cached_read_costs_one_round_trip_and_a_miss_one_more_to_store(
    redis_server: RedisServer, prefix: str, sim: SimulatedGeobox, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = fleet_client(
        sim,
        redis_server.url,
        prefix,
        cache=CacheConfig(ttl=60.0),
        circuit_breaker=None,
        rate_limit=None,
    )
    async with client:
        await client.get_usage_summary()  # warm: connected, the script loaded
        await client.update_usage()  # the stored entry is out of reach now
        trips = RoundTrips(monkeypatch)
        await client.get_usage_summary()  # a miss
        assert sim.count("GET", "usage/summary") == 2
        assert trips.take() == ["EVALSHA", "SET"]  # the generation and entry, then the store
        await client.get_usage_summary()  # a hit
        assert sim.count("GET", "usage/summary") == 2
        assert trips.take() == ["EVALSHA"]  # the generation and the entry, together


async def test_a_call_with_the_shared_limiter_and_breaker_costs_one_round_trip(
    redis_server: RedisServer, prefix: str, sim: SimulatedGeobox, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = fleet_client(
        sim,
        redis_server.url,
        prefix,
        rate_limit=RateLimitConfig(rate=1000, period=1.0),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=3, cooldown=30.0),
        breaker_refresh=60.0,  # longer than the test: every admission below is leased
    )
    async with client:
        await client.get_usage_summary()  # warm: connected, scripts loaded, lease taken
        trips = RoundTrips(monkeypatch)
        for days in range(1, 11):  # distinct calls: single flight merges none
            await client.get_process_usage(days_before_now=days)
        assert trips.take() == ["EVALSHA"] * 10  # the limiter's script, once per call


async def test_a_failure_of_its_own_ends_the_lease_at_once(
    redis_server: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    client, _ = fleet_client(
        sim,
        redis_server.url,
        prefix,
        retry=None,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=3, cooldown=30.0),
        breaker_refresh=60.0,
    )
    async with client:
        await client.get_usage_summary()  # leased: closed, no failures
        sim.faults = FaultPlan().random("usage/summary", 1.0, [Fault.status(500)])
        for _ in range(3):
            with pytest.raises(ServerError):
                await client.get_usage_summary()
        sent = sim.count("GET", "usage/summary")
        with pytest.raises(CircuitOpenError):  # not admitted on a stale lease
            await client.get_usage_summary()
        assert sim.count("GET", "usage/summary") == sent
