"""One budget of ``rate`` per ``period`` for every process using the credential."""

from __future__ import annotations

import asyncio
import time

import pytest
from geobox_usage import RateLimitConfig
from geobox_usage.testing import Fault, FaultPlan, SimulatedGeobox

from ._fleet import run_worker
from ._redis import RedisServer
from .conftest import fleet_client


@pytest.mark.parametrize(
    "seconds", [pytest.param(3.0, id="3s"), pytest.param(10.0, id="10s", marks=pytest.mark.slow)]
)
async def test_four_processes_share_rate_40_per_second(
    redis_server: RedisServer, prefix: str, seconds: float
) -> None:
    async with SimulatedGeobox(rate_limit=(40, 1.0)) as sim:
        start = time.time() + 2.0  # every worker imported and connected by then
        # the workers run a little longer than the window counted, so that it is full
        results = await asyncio.gather(
            *(
                run_worker("load", redis_server.url, prefix, sim.base_url, start, seconds + 0.5)
                for _ in range(4)
            )
        )
        statuses = [r.fault for r in sim.requests]
        times = sorted(r.received_at for r in sim.requests)
    seen = sum(1 for t in times if t < times[0] + seconds)  # the first `seconds` of load
    expected = 40 * seconds
    assert abs(seen - expected) <= 0.05 * expected, (seen, results)
    assert all(fault is None for fault in statuses), "the server answered 429"
    assert sum(r["failed"] for r in results) == 0


async def test_two_clients_never_exceed_the_window_together(
    redis_server: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    config = RateLimitConfig(rate=5, period=0.2, adaptive=False)
    solo = {"rate_limit": config, "disable_plugins": ("cache",)}  # no single flight
    first, _ = fleet_client(sim, redis_server.url, prefix, **solo)
    second, _ = fleet_client(sim, redis_server.url, prefix, **solo)
    async with first, second:
        await asyncio.gather(*(c.get_usage_summary() for c in (first, second) for _ in range(10)))
    times = sorted(r.received_at for r in sim.requests)
    assert len(times) == 20
    # 20 requests at 5 per 0.2 s: at least 0.6 s, where each client alone would take 0.2 s
    assert times[-1] - times[0] >= 0.55


async def test_a_429_in_one_client_slows_the_other(
    redis_server: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    sim.faults = FaultPlan().sequence("usage/summary", Fault.status(429, retry_after=0.001))
    config = RateLimitConfig(rate=100, period=1.0)
    first, _ = fleet_client(sim, redis_server.url, prefix, rate_limit=config)
    second, _ = fleet_client(sim, redis_server.url, prefix, rate_limit=config)
    async with first, second:
        await first.get_usage_summary()  # 429 then success: the fleet's rate is cut
        await second.get_usage_summary()
        stage = next(s.stage for s in second.pipeline.stages if s.name == "rate_limit")
        assert stage.rate is not None and stage.rate < 100.0


async def test_a_pause_learnt_by_one_client_holds_the_other(
    redis_server: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    sim.set_response_headers(
        "usage/summary", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.3"}
    )
    first, _ = fleet_client(sim, redis_server.url, prefix, rate_limit=RateLimitConfig())
    second, _ = fleet_client(sim, redis_server.url, prefix, rate_limit=RateLimitConfig())
    async with first, second:
        await first.get_usage_summary()
        sim.set_response_headers("usage/summary", None)
        await second.get_usage_summary()
    times = [r.received_at for r in sim.requests]
    assert times[1] - times[0] >= 0.25


async def test_successes_in_any_client_restore_the_fleet_rate(
    redis_server: RedisServer, prefix: str, sim: SimulatedGeobox
) -> None:
    sim.faults = FaultPlan().sequence("usage/summary", Fault.status(429, retry_after=0.001))
    config = RateLimitConfig(rate=100, period=1.0)
    first, events = fleet_client(sim, redis_server.url, prefix, rate_limit=config)
    second, _ = fleet_client(sim, redis_server.url, prefix, rate_limit=config)
    async with first, second:
        await first.get_usage_summary()  # cut to 50, then one success buffered
        for _ in range(6):
            await second.get_usage_summary()  # each applies the success before it
        for _ in range(6):
            await first.get_usage_summary()
        stage = next(s.stage for s in first.pipeline.stages if s.name == "rate_limit")
        assert stage.rate == 100.0
    actions = [e["action"] for e in events.named("geobox.ratelimit")]
    assert actions[0] == "slowdown"
    assert actions[-1] == "speedup"
