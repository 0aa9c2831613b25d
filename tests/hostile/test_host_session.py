"""A careless host session: its defaults never change what this client sends or reads."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest

from geobox_usage import (
    AsyncGeoboxClient,
    CircuitBreakerConfig,
    NotFoundError,
    RateLimitError,
    RetryConfig,
)
from geobox_usage.testing import DEMO_ACCESS_TOKEN, DEMO_API_KEY, Fault, SimulatedGeobox

ClientFactory = Callable[..., AsyncGeoboxClient]


@pytest.fixture
async def careless(sim: SimulatedGeobox) -> aiohttp.ClientSession:
    """A host session set up for another service, with every default that could leak."""
    session = aiohttp.ClientSession(
        base_url="http://other-service.invalid/api/",
        raise_for_status=True,
        headers={"Authorization": "Bearer other-service-secret", "X-Tenant": "acme"},
        cookies={"session": "other-service-cookie"},
    )
    yield session  # type: ignore[misc]
    await session.close()


async def test_a_404_is_a_not_found_error_not_a_transport_fault(
    sim: SimulatedGeobox, careless: aiohttp.ClientSession, make_client: ClientFactory
) -> None:
    client = make_client(
        session=careless, circuit_breaker=CircuitBreakerConfig(failure_threshold=3)
    )
    for _ in range(3):
        with pytest.raises(NotFoundError):
            await client.get_user(99)
    assert sim.count("GET", "users/99/") == 3  # once each: a 404 is not retried
    assert (await client.get_user()).user_id == 7  # and it opened no circuit


async def test_a_429_keeps_its_retry_after(
    sim: SimulatedGeobox, careless: aiohttp.ClientSession, make_client: ClientFactory
) -> None:
    sim.faults.sequence("usage/summary", Fault.status(429, retry_after=0.01))
    client = make_client(session=careless, retry=RetryConfig(attempts=1))
    with pytest.raises(RateLimitError) as caught:
        await client.get_usage_summary()
    assert caught.value.retry_after == 0.01


@pytest.mark.parametrize("credential", ["apikey", "access_token"])
async def test_the_host_session_s_headers_cookies_and_auth_never_reach_geobox(
    sim: SimulatedGeobox,
    careless: aiohttp.ClientSession,
    make_client: ClientFactory,
    credential: str,
) -> None:
    secret = DEMO_API_KEY if credential == "apikey" else DEMO_ACCESS_TOKEN
    client = make_client(session=careless, **{credential: secret})
    await client.get_usage_summary()
    (seen,) = sim.requests
    assert seen.header("X-Tenant") is None
    assert seen.header("Cookie") is None
    authorization = seen.header("Authorization")
    if credential == "apikey":
        assert authorization is None  # not the other service's bearer
    else:
        assert authorization == f"Bearer {DEMO_ACCESS_TOKEN}"
    assert not careless.closed


async def test_the_host_session_is_shared_and_never_closed(
    sim: SimulatedGeobox, careless: aiohttp.ClientSession
) -> None:
    async with AsyncGeoboxClient(
        sim.base_url, access_token=DEMO_ACCESS_TOKEN, session=careless, load_entrypoints=False
    ) as client:
        await client.get_usage_summary()
    assert not careless.closed
    assert careless.connector is not None and not careless.connector.closed


async def test_a_closed_host_session_is_named(sim: SimulatedGeobox) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    client = AsyncGeoboxClient(
        sim.base_url, access_token=DEMO_ACCESS_TOKEN, session=session, load_entrypoints=False
    )
    with pytest.raises(RuntimeError, match="session= is closed"):
        await client.get_usage_summary()
    await client.close()
