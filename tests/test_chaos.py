"""Chaos: 30% transient faults of every kind, and every call still ends right.

* 2,000 distinct GET calls at concurrency 50 all return the payload a fault-free server
  returns for the same call.
* 300 ``update_usage`` calls at concurrency 20: the server performed exactly one update
  for each call that succeeded and for each call that failed after its request reached
  the server, and none for the others; never two updates for one call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from geobox_usage import (
    AsyncGeoboxClient,
    CircuitBreakerConfig,
    GeoboxError,
    GeoboxTimeoutError,
    RateLimitConfig,
    ResponseDecodeError,
    RetryConfig,
    ServerError,
    TimeoutConfig,
    TransportError,
    UsageParam,
    UsageScale,
    request_id,
)
from geobox_usage.testing import DEMO_ACCESS_TOKEN, SimulatedGeobox, chaos_plan

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SCALES = list(UsageScale)
PARAMS = list(UsageParam)
HANG_GUARD_S = 60


@pytest.fixture
async def chaos_sim() -> AsyncIterator[SimulatedGeobox]:
    async with SimulatedGeobox(seed=1, now=lambda: NOW) as sim:
        yield sim


def chaos_client(sim: SimulatedGeobox) -> AsyncGeoboxClient:
    return AsyncGeoboxClient(
        host=sim.base_url,
        access_token=DEMO_ACCESS_TOKEN,
        # 30% faults need ~45% retries: the default budget (20%) would rightly refuse.
        retry=RetryConfig(
            attempts=12, backoff_base=0.002, backoff_max=0.02, deadline=20.0, budget_ratio=1.0
        ),
        timeout=TimeoutConfig(connect=2.0, read=1.0),
        # with 22% of attempts failing at random, 5 in a row happen: keep the breaker
        # in the pipeline but out of the way of a test about retries.
        circuit_breaker=CircuitBreakerConfig(failure_threshold=40, cooldown=0.05),
        rate_limit=RateLimitConfig(max_concurrency=64),
        load_entrypoints=False,
    )


def api_usage_args(i: int) -> dict[str, Any]:
    return {
        "scale": SCALES[i % len(SCALES)],
        "param": PARAMS[(i // len(SCALES)) % len(PARAMS)],
        "days_before_now": i // (len(SCALES) * len(PARAMS)) + 1,
        "limit": 5,
    }


async def run_all(coros: list[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    async with asyncio.timeout(HANG_GUARD_S):
        return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)


async def test_2000_get_calls_under_chaos_all_return_the_right_payloads(
    chaos_sim: SimulatedGeobox,
) -> None:
    n = 2000
    async with chaos_client(chaos_sim) as client:
        user = await client.get_user()
        expected = await run_all(
            [client.get_api_usage(user, **api_usage_args(i)) for i in range(n)], limit=50
        )
        assert not [r for r in expected if isinstance(r, BaseException)]
        chaos_sim.faults = chaos_plan(0.3, seed=11, max_delay=0.3, retry_after=0.005)
        chaos_sim.reset_log()
        got = await run_all(
            [client.get_api_usage(user, **api_usage_args(i)) for i in range(n)], limit=50
        )
    failures = [r for r in got if isinstance(r, BaseException)]
    assert failures == []
    assert got == expected
    faulted = [r for r in chaos_sim.requests if r.fault is not None]
    assert len(faulted) > 0.25 * n  # the chaos really happened
    assert len({r.fault.kind for r in faulted if r.fault}) >= 4


def reached_server(error: BaseException) -> bool:
    """Whether a failed call's request reached the server (so its update may be done)."""
    if isinstance(error, TransportError | GeoboxTimeoutError):
        return error.request_sent
    if isinstance(error, ServerError):
        return not (error.status == 503 and error.retry_after is not None)
    return isinstance(error, ResponseDecodeError)


async def test_300_updates_under_chaos_are_performed_once_per_call_that_reached_the_server(
    chaos_sim: SimulatedGeobox,
) -> None:
    chaos_sim.faults = chaos_plan(0.3, seed=12, max_delay=0.3, retry_after=0.005)
    n = 300

    async def update(i: int) -> Any:
        with request_id(f"update-{i}"):
            return await client.update_usage()

    async with chaos_client(chaos_sim) as client:
        results = await run_all([update(i) for i in range(n)], limit=20)
    ids = chaos_sim.update_request_ids
    assert len(ids) == len(set(ids))  # never two updates for one call
    succeeded = {f"update-{i}" for i, r in enumerate(results) if not isinstance(r, BaseException)}
    reached = {
        f"update-{i}"
        for i, r in enumerate(results)
        if isinstance(r, BaseException) and reached_server(r)
    }
    refused = {
        f"update-{i}"
        for i, r in enumerate(results)
        if isinstance(r, BaseException) and not reached_server(r)
    }
    assert all(isinstance(r, GeoboxError | dict) for r in results)
    assert set(ids) == succeeded | reached  # never a success without an update
    assert not set(ids) & refused
    assert chaos_sim.updates_performed == len(succeeded) + len(reached)
    assert len(succeeded) > n / 2
