"""The retry stage over real HTTP against the simulator."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from geobox_usage import (
    AsyncGeoboxClient,
    GeoboxTimeoutError,
    RateLimitError,
    RetryConfig,
    ServerError,
    TimeoutConfig,
    TransportError,
)
from geobox_usage.testing import Fault, FaultPlan, SimulatedGeobox

from ._resilience import ATTEMPT_FIELDS, client_for, gather_all, received_at


async def test_retry_after_in_seconds_is_honoured(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().sequence(
        "usage/summary",
        Fault.status(429, retry_after=0.15),
        Fault.status(503, retry_after=0.1),
    )
    client, rec = client_for(sim)
    async with client:
        summary = await client.get_usage_summary()
    assert summary == sim.summary_of(7)
    first, second, third = received_at(sim, "usage/summary")
    assert second - first >= 0.15  # the next attempt never starts before Retry-After
    assert third - second >= 0.1
    waits = [(e["wait_s"], e["wait_reason"]) for e in rec.named("geobox.attempt")]
    assert waits == [(0.15, "retry-after"), (0.1, "retry-after"), (None, None)]


async def test_retry_after_as_an_http_date_is_honoured(sim: SimulatedGeobox) -> None:
    when = (datetime.now(UTC) + timedelta(seconds=1.2)).replace(microsecond=0)
    sim.faults = FaultPlan().sequence(
        "usage/summary", Fault.status(429, headers={"Retry-After": format_datetime(when, True)})
    )
    client, _ = client_for(sim)
    async with client:
        await client.get_usage_summary()
    _, retried = received_at(sim, "usage/summary")
    # received_at is monotonic: map the date onto it through the current offset
    offset = time.time() - time.monotonic()
    assert retried + offset >= when.timestamp() - 0.01  # HTTP dates have 1 s resolution


async def test_retry_after_past_the_deadline_fails_at_once(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().sequence("usage/summary", Fault.status(429, retry_after=30))
    client, rec = client_for(sim, retry=RetryConfig(deadline=2.0))
    started = time.monotonic()
    async with client:
        with pytest.raises(RateLimitError) as caught:
            await client.get_usage_summary()
    assert time.monotonic() - started < 1.0  # no waiting at all (generous hang guard)
    assert caught.value.retry_after == 30
    assert caught.value.attempts == 1
    assert sim.count("GET", "usage/summary") == 1
    assert rec.named("geobox.attempt")[-1]["give_up_reason"] == "deadline"


async def test_deadline_bounds_the_whole_call(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().random("usage/summary", 1.0, [Fault.delay(5.0)])
    retry = RetryConfig(attempts=10, backoff_base=0.001, backoff_max=0.001, deadline=0.25)
    client, rec = client_for(sim, retry=retry, timeout=TimeoutConfig(connect=1, read=5))
    started = time.monotonic()
    async with client:
        with pytest.raises(GeoboxTimeoutError) as caught:
            await client.get_usage_summary()
    # the 0.25 s deadline cut the 5 s answer short (the bound is loose for slow machines)
    assert time.monotonic() - started < 2.5
    assert "deadline" in str(caught.value)
    assert sim.count("GET", "usage/summary") == 1
    assert rec.named("geobox.attempt")[-1]["give_up_reason"] == "deadline"


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(500),
        Fault.status(502, html=True),
        Fault.status(503, html=True),
        Fault.status(504, html=True),
        Fault.delay(3.0),
        Fault.drop(),
        Fault.truncate(),
    ],
    ids=["500", "502", "503", "504", "timeout", "drop", "truncate"],
)
async def test_idempotent_calls_are_repeated_after_transient_faults(
    sim: SimulatedGeobox, fault: Fault
) -> None:
    sim.faults = FaultPlan().sequence("usage/summary", fault, fault)
    client, rec = client_for(sim)
    async with client:
        summary = await client.get_usage_summary()
    assert summary == sim.summary_of(7)
    assert sim.count("GET", "usage/summary") == 3
    attempts = rec.named("geobox.attempt")
    # aiohttp itself resends a GET once when a reused keep-alive connection turns out
    # dropped, so a drop may cost one attempt of ours instead of two.
    assert len(attempts) == (3 if fault != Fault.drop() else len(attempts))
    assert [e["attempt"] for e in attempts] == list(range(1, len(attempts) + 1))
    assert attempts[-1]["outcome"] == "ok"
    assert all(e["outcome"] == "error" and e["will_retry"] for e in attempts[:-1])


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.status(500), ServerError),
        (Fault.status(502, html=True), ServerError),
        (Fault.status(503, html=True), ServerError),
        (Fault.status(504, html=True), ServerError),
        (Fault.delay(3.0), GeoboxTimeoutError),
        (Fault.drop(), TransportError),
        (Fault.truncate(), TransportError),
    ],
    ids=["500", "502", "503", "504", "timeout", "drop", "truncate"],
)
async def test_update_usage_is_never_repeated_once_it_reached_the_server(
    sim: SimulatedGeobox, fault: Fault, error: type[Exception]
) -> None:
    sim.faults = FaultPlan().sequence("usage/update", fault)
    client, rec = client_for(sim)
    async with client:
        with pytest.raises(error) as caught:
            await client.update_usage()
        assert caught.value.attempts == 1  # type: ignore[attr-defined]
        assert sim.count("POST", "usage/update") == 1
        assert sim.updates_performed == 1
        assert rec.named("geobox.attempt")[-1]["give_up_reason"] == "not idempotent"
        await client.update_usage()  # the client still works afterwards
    assert sim.updates_performed == 2


@pytest.mark.parametrize(
    "fault",
    [Fault.status(429, retry_after=0.01), Fault.status(503, retry_after=0.01)],
    ids=["429", "503-retry-after"],
)
async def test_update_usage_is_repeated_when_the_server_refused_it(
    sim: SimulatedGeobox, fault: Fault
) -> None:
    sim.faults = FaultPlan().sequence("usage/update", fault, fault)
    client, _ = client_for(sim)
    async with client:
        await client.update_usage()
    assert sim.count("POST", "usage/update") == 3
    assert sim.updates_performed == 1


async def test_update_usage_is_repeated_when_the_connection_was_refused() -> None:
    # A port nobody listens on: the request provably never left.
    sim = SimulatedGeobox()
    async with sim:
        base = sim.base_url
    client = AsyncGeoboxClient(
        host=base,
        access_token="t",
        retry=RetryConfig(attempts=3, backoff_base=0.001, backoff_max=0.002),
        load_entrypoints=False,
        circuit_breaker=None,
    )
    events: list[dict[str, object]] = []
    client.context.events.subscribe(lambda e: events.append(dict(e.fields)))
    async with client:
        with pytest.raises(TransportError) as caught:
            await client.update_usage()
    assert caught.value.request_sent is False
    assert caught.value.attempts == 3
    assert [e["give_up_reason"] for e in events] == [None, None, "attempts exhausted"]


async def test_the_last_error_says_how_many_attempts_were_made(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().random("usage/summary", 1.0, [Fault.status(502, html=True)])
    client, rec = client_for(sim)
    async with client:
        with pytest.raises(ServerError) as caught:
            await client.get_usage_summary()
    assert caught.value.attempts == 4
    assert "after 4 attempts" in str(caught.value)
    assert sim.count("GET", "usage/summary") == 4
    events = rec.named("geobox.attempt")
    assert all(set(e) == ATTEMPT_FIELDS for e in events)
    assert events[-1]["give_up_reason"] == "attempts exhausted"
    assert events[-1]["status"] == 502
    assert events[-1]["error_type"] == "ServerError"
    assert events[-1]["path"] == "/v1/usage/summary"
    assert [e["attempt"] for e in events] == [1, 2, 3, 4]


async def test_4xx_answers_are_not_repeated(sim: SimulatedGeobox) -> None:
    client, rec = client_for(sim)
    async with client:
        with pytest.raises(Exception, match=r"404|not found|Not Found"):
            await client.get_user(999)
    assert sim.count("GET", "users/999/") == 1
    assert rec.named("geobox.attempt")[-1]["give_up_reason"] == "not retryable"


async def test_retry_none_makes_one_attempt_and_still_emits_it(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().sequence("usage/summary", Fault.status(502, html=True))
    client, rec = client_for(sim, retry=None)
    async with client:
        with pytest.raises(ServerError):
            await client.get_usage_summary()
        await client.get_usage_summary()
    events = rec.named("geobox.attempt")
    assert [(e["attempt"], e["outcome"], e["give_up_reason"]) for e in events] == [
        (1, "error", "attempts exhausted"),
        (1, "ok", None),
    ]


async def test_an_outage_stays_within_the_retry_budget(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().random("*", 1.0, [Fault.status(503, html=True)])
    retry = RetryConfig(
        attempts=4,
        backoff_base=0.001,
        backoff_max=0.002,
        budget_ratio=0.2,
        budget_min_per_s=0.5,  # 5 retries per 10 s window
    )
    client, rec = client_for(sim, retry=retry, circuit_breaker=None)
    calls = 100
    async with client:
        results = await gather_all((client.get_usage_summary() for _ in range(calls)), limit=20)
    assert all(isinstance(r, ServerError) for r in results)
    # Without a budget: 400 requests. With it: calls + 20% + the 5-retry floor.
    assert calls < sim.count() <= calls + 0.2 * calls + 5
    reasons = {e["give_up_reason"] for e in rec.named("geobox.attempt")}
    assert "retry budget exhausted" in reasons
