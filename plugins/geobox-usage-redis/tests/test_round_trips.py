"""A cached read costs one round trip to Redis, counted at the redis-py client."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from geobox_usage import CacheConfig
from geobox_usage.testing import SimulatedGeobox
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
