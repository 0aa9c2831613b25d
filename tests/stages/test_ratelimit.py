"""The rate limit stage over real HTTP against the simulator."""

from __future__ import annotations

import asyncio

import pytest

from geobox_usage import (
    CacheConfig,
    ClientRateLimitError,
    RateLimitConfig,
    RateLimitError,
    RetryConfig,
)
from geobox_usage.testing import Fault, FaultPlan, SimulatedGeobox
from tests.conftest import ClientFactory

from ._resilience import InFlightProbe, client_for, gather_all, received_at, stage_named


async def test_max_concurrency_caps_requests_in_flight(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().random("usage/summary", 1.0, [Fault.delay(0.02)])
    probe = InFlightProbe()
    client, _ = client_for(sim, rate_limit=RateLimitConfig(max_concurrency=5), plugins=[probe])
    async with client:
        results = await gather_all((client.get_usage_summary() for _ in range(30)), limit=30)
    assert not [r for r in results if isinstance(r, BaseException)]
    assert probe.peak == 5
    assert stage_named(client, "rate_limit").in_flight == 0


async def test_a_fixed_rate_spaces_requests(sim: SimulatedGeobox) -> None:
    client, _ = client_for(sim, rate_limit=RateLimitConfig(rate=5, period=0.1, adaptive=False))
    async with client:
        await gather_all((client.get_usage_summary() for _ in range(15)), limit=15)
    times = received_at(sim, "usage/summary")
    assert len(times) == 15
    # a burst of 5, then 50 per second: the last 10 need about 0.2 s (an unlimited client
    # sends all 15 within a few ms; the slack allows for the limiter's own rounding)
    assert times[-1] - times[0] >= 0.15


async def test_429_slows_down_then_successes_speed_back_up(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().sequence("usage/summary", Fault.status(429, retry_after=0.001))
    client, rec = client_for(sim, rate_limit=RateLimitConfig(rate=100, period=1.0))
    stage = stage_named(client, "rate_limit")
    async with client:
        await client.get_usage_summary()
        assert stage.rate == 60.0  # halved by the 429, then +10% of 100 by the retry's success
        actions = [e["action"] for e in rec.named("geobox.ratelimit")]
        assert actions == ["slowdown"]
        for _ in range(10):
            await client.get_usage_summary()
    assert stage.rate == 100.0
    events = rec.named("geobox.ratelimit")
    assert [(e["action"], e["rate"]) for e in events] == [("slowdown", 50.0), ("speedup", 100.0)]


async def test_without_a_rate_the_first_429_limits_to_half_the_measured_rate(
    sim: SimulatedGeobox,
) -> None:
    sim.faults = FaultPlan().sequence("usage/summary", *[None] * 20, Fault.status(429))
    client, rec = client_for(sim, rate_limit=RateLimitConfig())
    stage = stage_named(client, "rate_limit")
    async with client:
        assert stage.rate is None
        await gather_all((client.get_usage_summary() for _ in range(21)), limit=1)
        assert stage.rate is not None
        assert stage.rate > 1.0
    assert rec.named("geobox.ratelimit")[0]["action"] == "slowdown"


async def test_remaining_zero_pauses_until_reset_and_avoids_429() -> None:
    async with SimulatedGeobox(rate_limit=(3, 0.3)) as sim:
        client, rec = client_for(sim, rate_limit=RateLimitConfig())
        async with client:
            for _ in range(5):
                await client.get_usage_summary()
        statuses = [r.fault for r in sim.requests]
        times = received_at(sim, "usage/summary")
    assert len(times) == 5  # no request was refused: the pause kept the client under
    assert statuses == [None] * 5
    assert times[3] - times[0] >= 0.29
    pauses = [e for e in rec.named("geobox.ratelimit") if e["action"] == "pause"]
    assert pauses
    assert 0 < pauses[0]["pause_s"] <= 0.3


async def test_rate_limit_none_removes_the_stage(sim: SimulatedGeobox) -> None:
    client, _ = client_for(sim, rate_limit=None)
    assert "rate_limit" not in client.pipeline.names
    await client.close()


async def test_every_attempt_passes_the_limiter(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().sequence("usage/summary", Fault.status(502))
    client, _ = client_for(
        sim,
        retry=RetryConfig(attempts=3, backoff_base=0.001, backoff_max=0.001),
        rate_limit=RateLimitConfig(rate=1, period=60.0, adaptive=False),
    )
    async with client:
        # The retry is due after 1 ms, but the limiter allows one request a minute, past
        # the call's deadline: the second attempt is refused by the limiter, unsent.
        with pytest.raises(ClientRateLimitError) as caught:
            await client.get_usage_summary()
    assert caught.value.request_sent is False
    assert caught.value.attempts == 2
    assert 59 < (caught.value.retry_after or 0) <= 60
    assert sim.count("GET", "usage/summary") == 1


async def test_a_429_past_the_deadline_surfaces(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().random("usage/summary", 1.0, [Fault.status(429, retry_after=9)])
    client, _ = client_for(sim, retry=RetryConfig(deadline=1.0))
    async with client:
        with pytest.raises(RateLimitError):
            await client.get_usage_summary()


async def test_a_cache_hit_does_not_pass_the_limiter(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(
        cache=CacheConfig(ttl=60.0),
        rate_limit=RateLimitConfig(rate=1, period=60.0, adaptive=False),
    )
    async with client:
        first = await client.get_usage_summary()  # spends the one request of this minute
        async with asyncio.timeout(5):  # a hang guard: through the limiter it would wait 60 s
            again = await client.get_usage_summary()
            other = asyncio.create_task(client.get_process_usage(days_before_now=1))
            await asyncio.sleep(0.05)
            assert not other.done()  # a miss does wait for the limiter
            other.cancel()
    assert again == first
    assert sim.count("GET", "usage/summary") == 1
    assert sim.count("GET", "usage/process") == 0


async def test_concurrency_slots_go_to_waiters_in_order_and_survive_cancellation() -> None:
    from geobox_usage.stages.ratelimit import _Slots

    slots = _Slots(1)
    assert slots.try_take()
    order: list[str] = []

    async def wait(name: str) -> None:
        await slots.take()
        order.append(name)

    first = asyncio.create_task(wait("first"))
    cancelled = asyncio.create_task(wait("cancelled"))
    last = asyncio.create_task(wait("last"))
    await asyncio.sleep(0)  # all three queued
    assert not slots.try_take()  # nobody jumps the queue, even for a returned slot
    slots.give_back()  # handed to "first" directly
    cancelled.cancel()  # cancelled while queued: it leaves the queue
    await first
    slots.give_back()  # skips the cancelled waiter, goes to "last"
    await last
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert order == ["first", "last"]
    slots.give_back()
    assert slots.free == 1


async def test_a_slot_handed_to_a_waiter_cancelled_before_it_ran_is_given_back() -> None:
    from geobox_usage.stages.ratelimit import _Slots

    slots = _Slots(1)
    assert slots.try_take()
    waiter = asyncio.create_task(slots.take())
    await asyncio.sleep(0)
    slots.give_back()  # the slot is the waiter's now...
    waiter.cancel()  # ...but it is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.free == 1  # the slot was not lost
