"""Fixtures: an SDK tracer and meter with in-memory exporters, the simulator, clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from geobox_usage_otel import OpenTelemetryPlugin
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from geobox_usage import AsyncGeoboxClient
from geobox_usage.testing import DEMO_ACCESS_TOKEN, FaultPlan, SimulatedGeobox

ClientFactory = Callable[..., AsyncGeoboxClient]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(reader: InMemoryMetricReader) -> MeterProvider:
    return MeterProvider(metric_readers=[reader])


@pytest.fixture
def otel(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> OpenTelemetryPlugin:
    """The plugin, on this test's own SDK providers (the global ones stay no-op)."""
    return OpenTelemetryPlugin(tracer_provider=tracer_provider, meter_provider=meter_provider)


@pytest.fixture
def fault_plan() -> FaultPlan:
    return FaultPlan(seed=0)


@pytest.fixture
async def sim(fault_plan: FaultPlan) -> AsyncIterator[SimulatedGeobox]:
    async with SimulatedGeobox(seed=1, faults=fault_plan) as server:
        yield server


@pytest.fixture
async def make_client(
    sim: SimulatedGeobox, otel: OpenTelemetryPlugin
) -> AsyncIterator[ClientFactory]:
    """Clients on ``sim`` with the test's plugin (entry points not loaded)."""
    clients: list[AsyncGeoboxClient] = []

    def factory(**kwargs: Any) -> AsyncGeoboxClient:
        if not {"access_token", "apikey", "username", "password"} & kwargs.keys():
            kwargs["access_token"] = DEMO_ACCESS_TOKEN
        kwargs.setdefault("host", sim.base_url)
        kwargs.setdefault("load_entrypoints", False)
        kwargs.setdefault("plugins", [otel])
        client = AsyncGeoboxClient(**kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()
