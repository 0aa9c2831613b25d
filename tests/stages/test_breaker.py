"""The circuit breaker stage over real HTTP against the simulator."""

from __future__ import annotations

import asyncio

import pytest

from geobox_usage import CircuitBreakerConfig, CircuitOpenError, GeoboxError, ServerError
from geobox_usage.resilience import CircuitState
from geobox_usage.testing import Fault, FaultPlan, SimulatedGeobox

from ._resilience import client_for, stage_named

OUTAGE = [Fault.status(503, html=True)]


async def test_an_open_circuit_sends_nothing(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().random("*", 1.0, OUTAGE)
    breaker = CircuitBreakerConfig(failure_threshold=3, cooldown=60.0)
    client, rec = client_for(sim, retry=None, circuit_breaker=breaker)
    async with client:
        for _ in range(3):
            with pytest.raises(ServerError):
                await client.get_usage_summary()
        seen = sim.count()
        for _ in range(10):
            with pytest.raises(CircuitOpenError) as caught:
                await client.get_usage_summary()
    assert sim.count() == seen == 3  # nothing more reached the server
    assert isinstance(caught.value, GeoboxError)
    assert caught.value.host == sim.base_url.split("//")[1].rstrip("/")
    assert 59 < caught.value.retry_in <= 60
    assert rec.named("geobox.breaker") == [
        {"host": caught.value.host, "old_state": "closed", "new_state": "open", "failures": 3}
    ]


async def test_after_cooldown_one_probe_closes_the_circuit(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().sequence("*", *OUTAGE * 2)
    breaker = CircuitBreakerConfig(failure_threshold=2, cooldown=0.05)
    client, rec = client_for(sim, retry=None, circuit_breaker=breaker)
    async with client:
        for _ in range(2):
            with pytest.raises(ServerError):
                await client.get_usage_summary()
        with pytest.raises(CircuitOpenError):
            await client.get_usage_summary()
        await asyncio.sleep(0.06)
        await client.get_usage_summary()  # the probe
        await client.get_usage_summary()  # closed again
    states = [(e["old_state"], e["new_state"]) for e in rec.named("geobox.breaker")]
    assert states == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert sim.count() == 4


async def test_a_failed_probe_reopens_and_others_fail_fast_meanwhile(
    sim: SimulatedGeobox,
) -> None:
    sim.faults = FaultPlan().sequence("*", *OUTAGE * 2, Fault.delay(0.1), Fault.status(502))
    breaker = CircuitBreakerConfig(failure_threshold=2, cooldown=0.05)
    client, _ = client_for(sim, retry=None, circuit_breaker=breaker)
    async with client:
        for _ in range(2):
            with pytest.raises(ServerError):
                await client.get_usage_summary()
        await asyncio.sleep(0.06)
        probe = asyncio.create_task(client.get_usage_summary())  # delayed, then fine
        await asyncio.sleep(0.03)
        with pytest.raises(CircuitOpenError):  # only the probe may be out
            await client.get_usage_summary()
        await probe
        store = stage_named(client, "circuit_breaker").store
        host = stage_named(client, "circuit_breaker").host_of(sim.api_url)
        assert (await store.state(host)).state is CircuitState.CLOSED
    assert sim.count() == 3


async def test_retry_gives_up_on_an_open_circuit(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().random("*", 1.0, OUTAGE)
    breaker = CircuitBreakerConfig(failure_threshold=2, cooldown=60.0)
    client, rec = client_for(sim, circuit_breaker=breaker)
    async with client:
        with pytest.raises(CircuitOpenError) as caught:
            await client.get_usage_summary()
    assert caught.value.attempts == 3
    assert sim.count() == 2
    assert rec.named("geobox.attempt")[-1]["give_up_reason"] == "circuit open"


async def test_4xx_answers_keep_the_circuit_closed(sim: SimulatedGeobox) -> None:
    breaker = CircuitBreakerConfig(failure_threshold=1, cooldown=60.0)
    client, rec = client_for(sim, retry=None, circuit_breaker=breaker)
    async with client:
        for _ in range(3):
            with pytest.raises(GeoboxError):
                await client.get_user(999)
        await client.get_usage_summary()
    assert rec.named("geobox.breaker") == []


async def test_a_cancelled_probe_frees_the_half_open_slot(sim: SimulatedGeobox) -> None:
    sim.faults = FaultPlan().sequence("*", *OUTAGE, Fault.delay(5.0))
    breaker = CircuitBreakerConfig(failure_threshold=1, cooldown=0.02)
    client, _ = client_for(sim, retry=None, circuit_breaker=breaker)
    async with client:
        with pytest.raises(ServerError):
            await client.get_usage_summary()
        await asyncio.sleep(0.03)
        probe = asyncio.create_task(client.get_usage_summary())
        while sim.count() < 2:
            await asyncio.sleep(0.005)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        await client.get_usage_summary()  # becomes the new probe, and closes the circuit
    assert sim.count() == 3
