"""Fixtures: a real redis-server, the simulator, and clients that share state through it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from geobox_usage import AsyncGeoboxClient, PipelineEvent, RetryConfig, TimeoutConfig
from geobox_usage.testing import DEMO_ACCESS_TOKEN, SimulatedGeobox

from geobox_usage_redis import RedisPlugin

from ._redis import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, which the test may stop and restart."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedGeobox]:
    async with SimulatedGeobox() as server:
        yield server


class Events:
    def __init__(self) -> None:
        self.seen: list[PipelineEvent] = []

    def __call__(self, event: PipelineEvent) -> None:
        self.seen.append(event)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [dict(e.fields) for e in self.seen if e.name == name]


def fleet_client(
    sim: SimulatedGeobox, url: str, prefix: str, **kwargs: Any
) -> tuple[AsyncGeoboxClient, Events]:
    """A client for ``sim`` whose shared state lives in Redis at ``url`` under ``prefix``."""
    plugin = RedisPlugin(
        url,
        prefix=prefix,
        fail_closed=kwargs.pop("fail_closed", False),
        retry_interval=kwargs.pop("retry_interval", 1.0),
        breaker_refresh=kwargs.pop("breaker_refresh", 0.1),
    )
    kwargs.setdefault("retry", RetryConfig(attempts=3, backoff_base=0.001, backoff_max=0.002))
    kwargs.setdefault("timeout", TimeoutConfig(connect=1.0, read=1.0))
    client = AsyncGeoboxClient(
        host=sim.base_url,
        access_token=DEMO_ACCESS_TOKEN,
        plugins=[plugin],
        load_entrypoints=False,
        **kwargs,
    )
    events = Events()
    client.context.events.subscribe(events)
    return client, events
