"""Closing a client with calls in flight (issue 9, item 15).

``close()`` used to cancel a token fetch under its waiting callers (they ended
``cancelled()``, and inside a ``TaskGroup`` their results vanished silently) and to
close the session under calls in flight, which the circuit breaker then counted as
host failures. Now every call cut by ``close()`` fails with ``ClientClosedError``; a
caller's own cancellation stays a cancellation; the breaker counts nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from geobox_usage import (
    AsyncGeoboxClient,
    CircuitBreakerConfig,
    ClientClosedError,
    GeoboxError,
    RetryConfig,
    specs,
)
from geobox_usage.caching._policy import is_server_failure
from geobox_usage.resilience._breaker_state import Outcome
from geobox_usage.resilience._decision import NOT_RETRYABLE, refusal
from geobox_usage.stages.breaker import CircuitBreakerStage, classify
from geobox_usage.testing import DEMO_ACCESS_TOKEN, SimulatedGeobox

from ._raw import RawRequest, RawServer, raw_server


async def never(request: RawRequest) -> bytes | None:
    return None  # the token endpoint and every other one: no answer, ever


def client_for(base_url: str, **kwargs: Any) -> AsyncGeoboxClient:
    kwargs.setdefault("access_token", "tok-close")
    return AsyncGeoboxClient(base_url, load_entrypoints=False, rate_limit=None, **kwargs)


async def arrivals(server: RawServer, count: int) -> None:
    """Wait until the server has received ``count`` requests."""
    async with asyncio.timeout(5):
        while len(server.requests) < count:
            server.arrived.clear()
            await server.arrived.wait()


async def test_close_during_a_token_fetch_fails_the_waiting_callers_clearly() -> None:
    async with raw_server(never) as server:
        client = client_for(server.base_url, access_token=None, username="u", password="p")
        calls = [asyncio.create_task(client.get_usage_summary()) for _ in range(3)]
        await arrivals(server, 1)  # the one token request
        await client.close()
        await asyncio.wait(calls)
    assert not any(call.cancelled() for call in calls)
    for call in calls:
        error = call.exception()
        assert isinstance(error, ClientClosedError), repr(error)
        assert "the client was closed" in str(error)
        assert error.__context__ is None and error.__cause__ is None


async def test_inside_a_task_group_the_cut_calls_are_reported_not_lost() -> None:
    async with raw_server(never) as server:
        client = client_for(server.base_url, access_token=None, username="u", password="p")

        async def close_when_asked() -> None:
            await arrivals(server, 1)
            await client.close()

        async def group_of_calls() -> None:
            async with asyncio.TaskGroup() as group:
                for _ in range(3):
                    group.create_task(client.get_usage_summary())
                group.create_task(close_when_asked())

        with pytest.raises(ExceptionGroup) as raised:
            await group_of_calls()
    assert [type(e) for e in raised.value.exceptions] == [ClientClosedError] * 3


async def test_calls_cut_by_close_are_no_host_failure_and_are_not_retried() -> None:
    async with raw_server(never) as server:
        client = client_for(
            server.base_url,
            retry=RetryConfig(attempts=3),
            circuit_breaker=CircuitBreakerConfig(failure_threshold=1),
        )
        # three users: three requests (the cache stage would join identical ones)
        calls = [asyncio.create_task(client.get_usage_summary(user)) for user in (1, 2, 3)]
        await arrivals(server, 3)
        await client.close()
        results = await asyncio.gather(*calls, return_exceptions=True)
        await asyncio.sleep(0)
        sent = len(server.requests)
    assert [type(r) for r in results] == [ClientClosedError] * 3
    assert all("was closed while this call was in flight" in str(r) for r in results)
    assert sent == 3  # not one attempt more
    [breaker] = [s.stage for s in client.pipeline.stages if s.name == "circuit_breaker"]
    assert isinstance(breaker, CircuitBreakerStage)
    state = await breaker.store.state(breaker.host_of(client.base_url))
    assert state.failures == 0 and state.state.value == "closed"


async def test_a_call_its_caller_cancelled_stays_cancelled() -> None:
    async with raw_server(never) as server:
        client = client_for(server.base_url)
        call = asyncio.create_task(client.get_usage_summary())
        await arrivals(server, 1)
        call.cancel()
        await client.close()
        await asyncio.wait([call])
    assert call.cancelled()


async def test_a_call_after_close_says_the_client_is_closed() -> None:
    async with raw_server(never) as server:
        client = client_for(server.base_url)
        await client.close()
        with pytest.raises(ClientClosedError, match="is closed; create a new one") as raised:
            await client.get_usage_summary()
    assert isinstance(raised.value, GeoboxError) and isinstance(raised.value, RuntimeError)
    assert server.requests == []


def test_a_client_used_from_a_second_event_loop_says_so() -> None:
    async def first_loop() -> AsyncGeoboxClient:
        async with SimulatedGeobox(seed=1) as sim:
            client = AsyncGeoboxClient(
                sim.base_url, access_token=DEMO_ACCESS_TOKEN, load_entrypoints=False
            )
            await client.get_usage_summary()
            # close the connections the loop holds, but not the client: it is then
            # used, as a careless host does, after this loop is gone
            await (await client.context.session()).close()
            return client

    client = asyncio.run(first_loop())

    async def second_loop() -> None:
        with pytest.raises(RuntimeError, match="used from a second event loop") as raised:
            await client.get_usage_summary()
        assert "now closed" in str(raised.value)
        with pytest.raises(RuntimeError, match="used from a second event loop"):
            await client.close()

    asyncio.run(second_loop())


def test_the_retry_breaker_and_cache_rules_do_not_count_a_closed_client() -> None:
    error = ClientClosedError("get_usage_summary: the client was closed")
    assert refusal(specs.USAGE_SUMMARY, error) == NOT_RETRYABLE
    assert classify(error) is Outcome.NEUTRAL
    assert not is_server_failure(error)
