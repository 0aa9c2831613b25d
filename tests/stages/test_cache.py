"""The cache stage against the simulator: single flight, storage, keys, invalidation, stale."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from geobox_usage import (
    AsyncGeoboxClient,
    CacheBackend,
    CacheConfig,
    CacheEntry,
    InMemoryCacheBackend,
    PipelineContext,
    ServerError,
    hookimpl,
    specs,
)
from geobox_usage.testing import (
    ADMIN_ACCESS_TOKEN,
    DEMO_API_KEY,
    DEMO_USER_ID,
    Fault,
    FaultPlan,
    SimulatedGeobox,
)

from ._helpers import FakeClock, GatePlugin, wait_for

ClientFactory = Callable[..., AsyncGeoboxClient]
QUIET: dict[str, Any] = {"retry": None, "circuit_breaker": None, "rate_limit": None}


def cache_outcomes(events: list[dict[str, Any]]) -> list[Any]:
    return [e["cache"] for e in events if e["event"] == "geobox.call"]


# -- single flight ------------------------------------------------------------------------


async def test_100_concurrent_identical_calls_make_one_request(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client()  # cache=None: single flight is on all the same
    results = await asyncio.gather(*(client.get_usage_summary() for _ in range(100)))
    assert sim.count("GET", "usage/summary") == 1
    assert all(r == results[0] for r in results)
    results[0]["daily_api_calls"] = -1  # each caller got its own copy
    results[1]["injected"] = True
    assert all(r["daily_api_calls"] != -1 for r in results[1:])
    assert all("injected" not in r for r in results[2:])
    # nothing was stored: a later call asks the server again
    await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 2


async def test_coalesced_callers_are_labelled(make_client: ClientFactory) -> None:
    client = make_client(cache=CacheConfig())
    with capture_logs() as events:
        await asyncio.gather(*(client.get_process_usage(days_before_now=3) for _ in range(5)))
    assert sorted(cache_outcomes(events), key=str) == ["coalesced"] * 4 + ["miss"]


async def test_different_queries_are_not_coalesced(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client()
    await asyncio.gather(
        client.get_process_usage(days_before_now=1), client.get_process_usage(days_before_now=2)
    )
    assert sim.count("GET", "usage/process") == 2


async def test_updates_are_never_coalesced_nor_cached(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(cache=CacheConfig())
    await asyncio.gather(*(client.update_usage() for _ in range(3)))
    await client.update_usage()
    assert sim.updates_performed == 4


async def test_a_cancelled_leader_does_not_strand_its_followers(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    gate = GatePlugin("get_usage_summary")
    client = make_client(plugins=[gate], **QUIET)
    leader = asyncio.create_task(client.get_usage_summary())
    await wait_for(gate.entered)
    followers = [asyncio.create_task(client.get_usage_summary()) for _ in range(5)]
    await asyncio.sleep(0)
    leader.cancel()
    gate.release()
    results = await asyncio.gather(*followers)  # a CancelledError here fails the test
    assert all(r == results[0] == sim.summary_of(DEMO_USER_ID) for r in results)
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert gate.arrivals == 2  # the cancelled leader's attempt, then one taker-over
    assert sim.count("GET", "usage/summary") == 1  # the leader was cancelled at the gate


async def test_a_cancelled_follower_does_not_disturb_the_others(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    gate = GatePlugin("get_usage_summary")
    client = make_client(plugins=[gate], **QUIET)
    leader = asyncio.create_task(client.get_usage_summary())
    await wait_for(gate.entered)
    quitter = asyncio.create_task(client.get_usage_summary())
    stayer = asyncio.create_task(client.get_usage_summary())
    await asyncio.sleep(0)
    quitter.cancel()
    gate.release()
    assert (await leader) == (await stayer)
    with pytest.raises(asyncio.CancelledError):
        await quitter
    assert sim.count("GET", "usage/summary") == 1


# -- storage ------------------------------------------------------------------------------


async def test_without_a_cache_config_nothing_is_stored(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client()
    await client.get_usage_summary()
    await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 2


async def test_a_fresh_entry_is_served_and_expires_after_the_ttl(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    clock = FakeClock()
    client = make_client(cache=CacheConfig(ttl=30.0), clock=clock, **QUIET)
    with capture_logs() as events:
        first = await client.get_usage_summary()
        first["mutated"] = True  # must not reach the stored entry
        clock.advance(29.999)
        second = await client.get_usage_summary()
        clock.advance(0.001)
        await client.get_usage_summary()
    assert "mutated" not in second
    assert cache_outcomes(events) == ["miss", "hit", "miss"]
    assert sim.count("GET", "usage/summary") == 2


async def test_entries_past_max_entries_are_evicted_lru(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(cache=CacheConfig(max_entries=2), **QUIET)
    for days in (1, 2, 1, 3, 1, 2):  # 2 is evicted by 3 (1 was used more recently)
        await client.get_process_usage(days_before_now=days)
    seen = [r.param("days_before_now") for r in sim.requests]
    assert seen == ["1", "2", "3", "2"]


@pytest.mark.parametrize(
    ("header", "advance", "requests"),
    [
        ("no-store", 0.0, 2),  # never stored
        ("max-age=300", 200.0, 1),  # longer than our ttl of 10: the server wins
        ("max-age=1", 2.0, 2),  # shorter than our ttl: the server wins
        ("no-cache", 0.0, 2),
    ],
)
async def test_the_server_s_cache_control_wins(
    sim: SimulatedGeobox, make_client: ClientFactory, header: str, advance: float, requests: int
) -> None:
    sim.set_response_headers("GET usage/summary", {"Cache-Control": header})
    clock = FakeClock()
    client = make_client(cache=CacheConfig(ttl=10.0), clock=clock, **QUIET)
    await client.get_usage_summary()
    clock.advance(advance)
    await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == requests


async def test_query_order_does_not_split_entries(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(cache=CacheConfig(), **QUIET)
    params = (
        ("eid", str(DEMO_USER_ID)),
        ("scale", "day"),
        ("param", "calls"),
        ("days_before_now", "3"),
    )
    first = await client.execute(specs.API_USAGE, params=params, target=str(DEMO_USER_ID))
    again = await client.execute(specs.API_USAGE, params=params[::-1], target=str(DEMO_USER_ID))
    assert first == again
    assert sim.count("GET", "usage/api") == 1


# -- keys: credentials never share ------------------------------------------------------


class SharedBackend:
    """Hands the same store to every client it is given to."""

    def __init__(self, backend: CacheBackend) -> None:
        self.backend = backend

    @hookimpl
    def geobox_usage_cache_backend(self, context: PipelineContext) -> CacheBackend:
        return self.backend


async def test_two_credentials_make_two_requests_even_on_a_shared_backend(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    shared = InMemoryCacheBackend()
    by_token = make_client(cache=CacheConfig(), plugins=[SharedBackend(shared)], **QUIET)
    by_key = make_client(
        apikey=DEMO_API_KEY, cache=CacheConfig(), plugins=[SharedBackend(shared)], **QUIET
    )
    # the same user (7) through two credentials: the answers are alike, the entries are not
    assert await by_token.get_usage_summary() == await by_key.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 2
    assert len(shared) == 2
    assert not any(DEMO_API_KEY in key for key in shared._entries)
    # the same credential on the same shared store does reuse its entry (so the test can fail)
    again = make_client(apikey=DEMO_API_KEY, cache=CacheConfig(), plugins=[SharedBackend(shared)])
    await again.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 2


async def test_two_credentials_are_not_coalesced(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    shared = InMemoryCacheBackend()
    a = make_client(cache=CacheConfig(), plugins=[SharedBackend(shared)], **QUIET)
    b = make_client(access_token=ADMIN_ACCESS_TOKEN, **QUIET)
    await asyncio.gather(a.get_user(DEMO_USER_ID), b.get_user(DEMO_USER_ID))
    assert sim.count("GET", "users/*") == 2


# -- invalidation -------------------------------------------------------------------------


async def test_an_update_invalidates_that_user_s_summary_process_and_api_usage(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(cache=CacheConfig(), **QUIET)
    user = await client.get_user()

    async def read_all() -> tuple[Any, ...]:
        return (
            await client.get_usage_summary(),
            await client.get_process_usage(days_before_now=2),
            await client.get_api_usage(user, "day", "calls", days_before_now=2),
            (await client.get_user()).user_id,
        )

    before = await read_all()
    assert await read_all() == before
    assert sim.count("GET", "usage/*") == 3
    await client.update_usage()
    after = await read_all()
    assert sim.count("GET", "usage/summary") == 2
    assert sim.count("GET", "usage/process") == 2
    assert sim.count("GET", "usage/api") == 2
    assert sim.count("GET", "users/me/") == 1  # not among the invalidated operations
    assert after[0]["monthly_api_calls"] > before[0]["monthly_api_calls"]


async def test_an_update_by_id_invalidates_the_me_entries_too(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(cache=CacheConfig(), **QUIET)
    before = await client.get_usage_summary()  # target "me"
    await client.update_usage(DEMO_USER_ID)  # target "7": the same user
    after = await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 2
    assert after["monthly_api_calls"] > before["monthly_api_calls"]


async def test_an_update_that_failed_after_reaching_the_server_still_invalidates(
    sim: SimulatedGeobox, fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    client = make_client(cache=CacheConfig(), **QUIET)
    before = await client.get_usage_summary()
    fault_plan.sequence("POST usage/update", Fault.status(502, html=True))  # after the work
    with pytest.raises(ServerError):
        await client.update_usage()
    assert sim.updates_performed == 1
    after = await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 2
    assert after != before


async def test_a_read_in_flight_during_an_update_is_not_stored(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    gate = GatePlugin("get_usage_summary")
    client = make_client(cache=CacheConfig(), plugins=[gate], **QUIET)
    read = asyncio.create_task(client.get_usage_summary())
    await wait_for(gate.entered)
    await client.update_usage()
    gate.release()
    await read
    fresh = await client.get_usage_summary()  # must not be the pre-update answer's entry
    assert sim.count("GET", "usage/summary") == 2
    assert fresh == sim.summary_of(DEMO_USER_ID)  # the recomputed summary, not the old one


# -- stale if error -----------------------------------------------------------------------


async def test_an_expired_entry_stands_in_for_a_503(
    sim: SimulatedGeobox, fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    clock = FakeClock()
    client = make_client(cache=CacheConfig(ttl=10.0, stale_if_error=60.0), clock=clock, **QUIET)
    with capture_logs() as events:
        original = await client.get_usage_summary()
        clock.advance(30.0)  # expired 20 s ago, within the 60 s window
        fault_plan.sequence("usage/summary", Fault.status(503, html=True))
        stale = await client.get_usage_summary()
    assert stale == original
    assert cache_outcomes(events) == ["miss", "stale"]
    assert sim.count("GET", "usage/summary") == 2
    assert [r.fault.code for r in sim.requests if r.fault] == [503]


async def test_no_stale_answer_past_the_window_or_for_a_client_error(
    sim: SimulatedGeobox, fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    clock = FakeClock()
    client = make_client(cache=CacheConfig(ttl=10.0, stale_if_error=60.0), clock=clock, **QUIET)
    await client.get_usage_summary()
    clock.advance(20.0)
    fault_plan.sequence("usage/summary", Fault.status(403))
    with pytest.raises(Exception, match="403"):
        await client.get_usage_summary()
    clock.advance(60.0)  # now 70 s past the fresh time: beyond the window
    fault_plan.sequence("usage/summary", Fault.status(503, html=True))
    with pytest.raises(ServerError):
        await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 3


async def test_stale_if_error_zero_serves_nothing_stale(
    fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    clock = FakeClock()
    client = make_client(cache=CacheConfig(ttl=10.0), clock=clock, **QUIET)
    await client.get_usage_summary()
    clock.advance(10.0)
    fault_plan.sequence("usage/summary", Fault.status(503, html=True))
    with pytest.raises(ServerError):
        await client.get_usage_summary()


# -- replacing the backend ----------------------------------------------------------------


class RecordingBackend:
    """A backend a plugin supplies; it records what the stage asks of it."""

    def __init__(self) -> None:
        self.inner = InMemoryCacheBackend()
        self.calls: list[str] = []

    async def get(self, key: str) -> CacheEntry | None:
        self.calls.append("get")
        return await self.inner.get(key)

    async def set(self, key: str, entry: CacheEntry, ttl: float) -> None:
        self.calls.append("set")
        await self.inner.set(key, entry, ttl)

    async def delete(self, key: str) -> None:
        self.calls.append("delete")
        await self.inner.delete(key)


class BackendPlugin:
    plugin_name = "test_backend"

    def __init__(self) -> None:
        self.backend = RecordingBackend()

    @hookimpl
    def geobox_usage_cache_backend(self, context: PipelineContext) -> RecordingBackend:
        return self.backend


async def test_a_plugin_can_supply_the_backend(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    plugin = BackendPlugin()
    client = make_client(cache=CacheConfig(), plugins=[plugin], **QUIET)
    await client.get_usage_summary()
    await client.get_usage_summary()
    assert plugin.backend.calls == ["get", "set", "get"]
    assert sim.count("GET", "usage/summary") == 1


def test_a_backend_without_the_protocol_is_refused(make_client: ClientFactory) -> None:
    with pytest.raises(ValueError, match="must have async get, set and delete methods"):
        make_client(cache=CacheConfig(), plugins=[SharedBackend(object())])  # type: ignore[arg-type]
