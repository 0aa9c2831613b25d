"""Shared fixtures: a simulated Geobox server on this test's loop, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import structlog
from hypothesis import settings

from geobox_usage import AsyncGeoboxClient
from geobox_usage.testing import DEMO_ACCESS_TOKEN, FaultPlan, SimulatedGeobox

ClientFactory = Callable[..., AsyncGeoboxClient]

# Property tests run the same examples on every run (the suite is deterministic) and are
# never failed for being slow on a loaded machine (timing is not what they test).
settings.register_profile("geobox", deadline=None, derandomize=True, database=None)
settings.load_profile("geobox")


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """Leave structlog unconfigured after every test (the demo CLI configures it)."""
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def fault_plan() -> FaultPlan:
    """An empty fault plan that ``sim`` follows; fill it in the test."""
    return FaultPlan(seed=0)


@pytest.fixture
async def sim(fault_plan: FaultPlan) -> AsyncIterator[SimulatedGeobox]:
    """The simulator, served on loopback in the test's own event loop."""
    async with SimulatedGeobox(seed=1, faults=fault_plan) as server:
        yield server


@pytest.fixture
async def make_client(sim: SimulatedGeobox) -> AsyncIterator[ClientFactory]:
    """Builds clients pointed at ``sim``; closes them after.

    Without a credential argument the client uses the demo user's access token, unless
    ``no_credentials=True`` (for custom auth plugins).
    """
    clients: list[AsyncGeoboxClient] = []

    def factory(*, no_credentials: bool = False, **kwargs: Any) -> AsyncGeoboxClient:
        given = {"access_token", "apikey", "username", "password"} & kwargs.keys()
        if not given and not no_credentials:
            kwargs["access_token"] = DEMO_ACCESS_TOKEN
        kwargs.setdefault("host", sim.base_url)
        kwargs.setdefault("load_entrypoints", False)
        client = AsyncGeoboxClient(**kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
def no_geobox_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove the GEOBOX_* credential variables so only explicit arguments count."""
    for name in ("GEOBOX_ACCESS_TOKEN", "GEOBOX_APIKEY", "GEOBOX_USERNAME", "GEOBOX_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
