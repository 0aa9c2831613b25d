"""Issue 9, items 7 and 9: rate-limit headers that would disable the client, and rates
below one per period.

The simulator stands in for a server that sends ``X-RateLimit-Remaining: 0`` with a
reset no client should take at face value; the client runs on a fake clock, so a pause
of minutes costs no real time.
"""

from __future__ import annotations

import asyncio

import pytest

from geobox_usage import ClientRateLimitError, GeoboxTimeoutError, RateLimitConfig, RetryConfig
from geobox_usage.testing import Fault, FaultPlan, SimulatedGeobox
from tests.stages._helpers import FakeClock
from tests.stages._resilience import client_for

RETRY = RetryConfig(attempts=2, backoff_base=0.001, backoff_max=0.001, deadline=10.0)


def exhausted(sim: SimulatedGeobox, reset: str) -> None:
    """Make every summary answer say the budget is spent until ``reset``."""
    sim.set_response_headers(
        "usage/summary", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    )


async def test_an_epoch_reset_in_the_past_pauses_nothing(sim: SimulatedGeobox) -> None:
    exhausted(sim, "1000000000")  # 2001-09-09 as an epoch time; a 31-year pause as seconds
    client, rec = client_for(sim, retry=RETRY, rate_limit=RateLimitConfig())
    async with client, asyncio.timeout(5):  # before the fix the second call waited ~forever
        await client.get_usage_summary()
        await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 2
    assert not [e for e in rec.named("geobox.ratelimit") if e["action"] == "pause"]


async def test_an_epoch_reset_pauses_until_then_and_a_pause_past_the_deadline_fails_at_once(
    sim: SimulatedGeobox,
) -> None:
    clock = FakeClock()
    exhausted(sim, str(int(clock.time()) + 30))  # an epoch time, 30 s ahead
    client, rec = client_for(sim, retry=RETRY, rate_limit=RateLimitConfig(), clock=clock)
    async with client, asyncio.timeout(5):
        await client.get_usage_summary()
        with pytest.raises(ClientRateLimitError) as caught:
            await client.get_usage_summary()  # 30 s of pause, 10 s of deadline
        assert sim.count("GET", "usage/summary") == 1  # nothing was sent
        error = caught.value
        assert error.request_sent is False
        assert error.headers is None
        assert 29 < (error.retry_after or 0) <= 30
        assert "was not sent" in str(error)
        clock.advance(30.5)
        await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 2
    pauses = [e for e in rec.named("geobox.ratelimit") if e["action"] == "pause"]
    assert 29 < pauses[0]["pause_s"] <= 30


async def test_a_pause_is_capped_at_max_pause(sim: SimulatedGeobox) -> None:
    clock = FakeClock()
    exhausted(sim, "86000")  # nearly a day, as seconds
    config = RateLimitConfig(max_pause=20.0)
    client, _ = client_for(sim, retry=RETRY, rate_limit=config, clock=clock)
    async with client, asyncio.timeout(5):
        await client.get_usage_summary()
        with pytest.raises(ClientRateLimitError):
            await client.get_usage_summary()
        clock.advance(20.5)
        await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 2


async def test_a_pause_within_the_deadline_is_waited_out(sim: SimulatedGeobox) -> None:
    clock = FakeClock()
    exhausted(sim, "4")
    client, _ = client_for(sim, retry=RETRY, rate_limit=RateLimitConfig(), clock=clock)
    async with client, asyncio.timeout(5):
        await client.get_usage_summary()
        start = clock.monotonic()
        await client.get_usage_summary()
    assert 3.9 <= clock.monotonic() - start <= 4.1
    assert sim.count("GET", "usage/summary") == 2


async def test_a_rate_below_one_per_period_spaces_requests(sim: SimulatedGeobox) -> None:
    clock = FakeClock()
    config = RateLimitConfig(rate=0.5, period=1.0)  # one request every two seconds
    client, _ = client_for(sim, retry=RETRY, rate_limit=config, clock=clock)
    async with client, asyncio.timeout(5):
        start = clock.monotonic()
        for _ in range(3):
            await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 3
    assert 3.9 <= clock.monotonic() - start <= 4.1


async def test_a_call_that_never_gets_a_slot_is_not_reported_as_sent(
    sim: SimulatedGeobox,
) -> None:
    sim.faults = FaultPlan().sequence("usage/summary", Fault.delay(0.5))
    retry = RetryConfig(attempts=1, deadline=0.2)
    config = RateLimitConfig(max_concurrency=1)
    client, _ = client_for(sim, retry=retry, rate_limit=config)
    async with client, asyncio.timeout(5):
        holder = asyncio.create_task(client.get_usage_summary())  # holds the only slot
        while sim.count("GET", "usage/summary") < 1:
            await asyncio.sleep(0.001)
        with pytest.raises(ClientRateLimitError) as caught:
            await client.get_usage_summary()
        assert caught.value.request_sent is False
        with pytest.raises(GeoboxTimeoutError) as sent:
            await holder
        assert sent.value.request_sent is True  # that one did reach the server
    assert sim.count("GET", "usage/summary") == 1
