"""Password auth: one token fetch, single-flight refresh, no loop on wrong credentials."""

from __future__ import annotations

import asyncio

import pytest

from geobox_usage import AsyncGeoboxClient, AuthenticationError, request_id
from geobox_usage.testing import (
    DEMO_PASSWORD,
    DEMO_USER_ID,
    DEMO_USERNAME,
    Fault,
    FaultPlan,
    SimulatedGeobox,
)

from ._resilience import client_for, gather_all


def password_client(sim: SimulatedGeobox, **kwargs: object):  # type: ignore[no-untyped-def]
    return client_for(sim, username=DEMO_USERNAME, password=DEMO_PASSWORD, **kwargs)


async def test_the_token_is_fetched_once_lazily_for_concurrent_first_calls(
    sim: SimulatedGeobox,
) -> None:
    client, _ = password_client(sim)  # used without ``async with``: it logs in lazily
    try:
        assert sim.token_requests == 0
        results = await gather_all(
            (client.get_process_usage(days_before_now=d) for d in range(1, 21)), limit=20
        )
    finally:
        await client.close()
    assert not [r for r in results if isinstance(r, BaseException)]
    assert sim.token_requests == 1


async def test_async_with_logs_in_on_entering_as_the_official_sdk_does(
    sim: SimulatedGeobox,
) -> None:
    client, rec = password_client(sim)
    async with client:
        assert sim.token_requests == 1
        assert [r.path for r in sim.requests] == ["auth/token/"]
        await client.get_usage_summary()
    assert sim.token_requests == 1
    assert [e["action"] for e in rec.named("geobox.auth")] == ["token_obtained"]


async def test_a_wrong_password_raises_on_entering(sim: SimulatedGeobox) -> None:
    client, _ = client_for(sim, username=DEMO_USERNAME, password="wrong")
    with pytest.raises(AuthenticationError) as caught:
        async with client:
            pytest.fail("entered with a wrong password")
    assert client.closed
    assert caught.value.operation == "auth_token" and "wrong" not in str(caught.value)
    assert sim.token_requests == 1


async def test_a_login_that_fails_on_the_way_is_left_to_the_first_call(
    sim: SimulatedGeobox,
) -> None:
    sim.faults = FaultPlan().sequence("auth/token/", Fault.status(503, html=True))
    client, rec = password_client(sim)
    async with client:  # a 503 is no verdict on the password: entering succeeds
        assert await client.get_usage_summary() == sim.summary_of(DEMO_USER_ID)
    assert sim.token_requests == 2
    assert [e["action"] for e in rec.named("geobox.auth")] == ["login_deferred", "token_obtained"]


async def test_50_calls_hitting_an_expired_token_cause_exactly_one_refresh(
    sim: SimulatedGeobox,
) -> None:
    client, rec = password_client(sim)
    async with client:
        await client.get_usage_summary()
        sim.expire_tokens()
        sim.reset_log()
        results = await gather_all(
            (client.get_process_usage(days_before_now=d) for d in range(1, 51)), limit=50
        )
        assert not [r for r in results if isinstance(r, BaseException)]
        assert sim.token_requests == 1
        # each call was repeated at most once with the new token
        assert sim.count("GET", "usage/process") <= 100
        expired = [r for r in sim.requests if r.path == "usage/process"]
        assert len({r.request_id for r in expired}) == 50
        tokens = {r.header("Authorization") for r in sim.requests[-50:]}
        assert len(tokens) == 1
    refreshes = [e for e in rec.named("geobox.auth") if e["reason"] == "expired"]
    assert len(refreshes) == 1


async def test_wrong_credentials_fail_at_once_without_a_loop(sim: SimulatedGeobox) -> None:
    client, rec = client_for(sim, username=DEMO_USERNAME, password="wrong")
    try:  # used without ``async with``: the calls log in
        results = await gather_all((client.get_usage_summary() for _ in range(10)), limit=10)
        with pytest.raises(AuthenticationError) as caught:
            await client.get_usage_summary()
    finally:
        await client.close()
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert sim.token_requests == 1  # once, for all eleven calls
    assert sim.count("GET", "usage/summary") == 0
    assert "wrong" not in str(caught.value)
    assert caught.value.operation == "auth_token"
    assert {e["give_up_reason"] for e in rec.named("geobox.attempt")} == {"not retryable"}


async def test_a_server_fault_while_fetching_the_token_is_retried_even_for_update(
    sim: SimulatedGeobox,
) -> None:
    sim.faults = FaultPlan().sequence("auth/token/", Fault.drop(), Fault.status(502))
    client, _ = password_client(sim)
    async with client:
        await client.update_usage()
    assert sim.token_requests == 3
    assert sim.updates_performed == 1


async def _start_refresh_stampede(
    sim: SimulatedGeobox, client: AsyncGeoboxClient
) -> tuple[list[asyncio.Task[float]], int]:
    """20 calls hitting an expired token while the refresh is slow; the refresher's index."""
    await client.get_usage_summary()
    sim.expire_tokens()
    sim.faults = FaultPlan().sequence("auth/token/", Fault.delay(0.15))
    tasks = []
    for d in range(20):
        with request_id(f"call-{d}"):
            tasks.append(asyncio.create_task(client.get_process_usage(days_before_now=d + 1)))
    while sim.token_requests < 2:
        await asyncio.sleep(0.005)
    token_ids = [r.request_id for r in sim.requests if r.path == "auth/token/"]
    refresher = token_ids[-1]
    return tasks, int(refresher.removeprefix("call-"))


async def test_callers_cancelled_while_waiting_for_a_refresh_leave_the_others_alone(
    sim: SimulatedGeobox,
) -> None:
    client, _ = password_client(sim)
    async with client:
        tasks, refresher = await _start_refresh_stampede(sim, client)
        waiting = [t for i, t in enumerate(tasks) if i != refresher]
        for task in waiting[:10]:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        seen = sim.count("GET", "usage/process")
    cancelled = [r for r in results if isinstance(r, asyncio.CancelledError)]
    assert len(cancelled) == 10
    assert sum(isinstance(r, float) for r in results) == 10
    assert sim.token_requests == 2  # the one refresh, not one per caller
    # the cancelled calls sent nothing after their cancellation: 20 expired + 10 repeats
    assert seen == 30


async def test_cancelling_the_caller_that_started_the_refresh_keeps_the_one_refresh(
    sim: SimulatedGeobox,
) -> None:
    client, _ = password_client(sim)
    async with client:
        tasks, refresher = await _start_refresh_stampede(sim, client)
        tasks[refresher].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[refresher], asyncio.CancelledError)
    assert sum(isinstance(r, float) for r in results) == 19
    # the refresh is shielded from its starter's cancellation: still one, for the others
    assert sim.token_requests == 2
