"""Metrics after a mixed run, and no secret anywhere in what the plugin records."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from geobox_usage import AsyncGeoboxClient, CacheConfig, NotFoundError, RateLimitConfig
from geobox_usage.testing import (
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    Fault,
    SimulatedGeobox,
)

ClientFactory = Callable[..., AsyncGeoboxClient]

#: Every attribute a metric may carry: all of them bounded.
BOUNDED = {
    "geobox.operation",
    "geobox.outcome",
    "geobox.cache.result",
    "geobox.retry.reason",
    "geobox.wait.reason",
    "geobox.breaker.old_state",
    "geobox.breaker.new_state",
    "geobox.auth.reason",
    "http.request.method",
    "http.response.status_code",
    "error.type",
    "server.address",
    "server.port",
}


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Data points by metric name."""
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, list[Any]] = {}
    for resource_metrics in data.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def total(found: dict[str, list[Any]], name: str, **where: object) -> int:
    """The sum of a counter's points (or a histogram's counts) matching ``where``."""
    result = 0
    for point in found.get(name, []):
        attributes = dict(point.attributes)
        if all(attributes.get(k) == v for k, v in where.items()):
            result += point.value if hasattr(point, "value") else point.count
    return result


async def test_metrics_after_a_mixed_run_of_hits_misses_and_retries(
    sim: SimulatedGeobox, make_client: ClientFactory, reader: InMemoryMetricReader
) -> None:
    sim.faults.sequence("usage/summary", Fault.status(503, retry_after=0.01))
    client = make_client(cache=CacheConfig(ttl=60))
    await client.get_usage_summary()  # miss, after one retry
    await client.get_usage_summary()  # hit
    await asyncio.gather(  # one miss, one coalesced
        client.get_process_usage(days_before_now=3), client.get_process_usage(days_before_now=3)
    )
    with pytest.raises(NotFoundError):
        await client.get_user(999_999)

    found = points(reader)
    cache = "geobox.client.cache.results"
    assert total(found, cache, **{"geobox.cache.result": "hit"}) == 1
    assert total(found, cache, **{"geobox.cache.result": "miss"}) == 2
    assert total(found, cache, **{"geobox.cache.result": "coalesced"}) == 1
    assert total(found, "geobox.client.retries") == 1
    assert (
        total(
            found,
            "geobox.client.retries",
            **{"geobox.retry.reason": "503", "geobox.wait.reason": "retry-after"},
        )
        == 1
    )
    http = "http.client.request.duration"
    assert total(found, http) == 4  # 503, 200, process usage, 404
    assert total(found, http, **{"http.response.status_code": 503, "error.type": "503"}) == 1
    assert total(found, http, **{"http.response.status_code": 404, "error.type": "404"}) == 1
    call = "geobox.client.call.duration"
    assert total(found, call) == 5
    assert total(found, call, **{"geobox.outcome": "error", "error.type": "404"}) == 1
    for name, series in found.items():
        for point in series:
            assert set(point.attributes) <= BOUNDED, (name, dict(point.attributes))


async def test_limiter_waits_breaker_transitions_and_token_fetches_are_counted(
    sim: SimulatedGeobox, make_client: ClientFactory, reader: InMemoryMetricReader
) -> None:
    from geobox_usage import CircuitBreakerConfig, CircuitOpenError, RetryConfig

    client = make_client(
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
        retry=RetryConfig(attempts=1),
        rate_limit=RateLimitConfig(rate=1, period=0.05, adaptive=False),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1, cooldown=30),
    )
    await client.get_usage_summary()
    sim.faults.sequence("usage/summary", Fault.status(500))
    with pytest.raises(Exception, match="500"):
        await client.get_usage_summary()  # waits for the limiter, then opens the circuit
    with pytest.raises(CircuitOpenError):
        await client.get_usage_summary()

    found = points(reader)
    assert total(found, "geobox.client.rate_limit.waits") >= 1
    transitions = "geobox.client.breaker.transitions"
    assert total(found, transitions, **{"geobox.breaker.new_state": "open"}) == 1
    assert total(found, "geobox.client.token.fetches", **{"geobox.auth.reason": "first use"}) == 1


def attribute_values(
    exporter: InMemorySpanExporter, reader: InMemoryMetricReader
) -> Iterator[tuple[str, str]]:
    """Every attribute (key, value as text) of every span, span event and data point."""
    for span in exporter.get_finished_spans():
        for key, value in (span.attributes or {}).items():
            yield f"span {span.name}: {key}", str(value)
        for event in span.events:
            for key, value in (event.attributes or {}).items():
                yield f"event {event.name}: {key}", str(value)
        yield f"span {span.name}: status", str(span.status.description)
    for name, series in points(reader).items():
        for point in series:
            for key, value in point.attributes.items():
                yield f"metric {name}: {key}", str(value)


async def test_no_secret_reaches_any_span_event_or_metric_attribute(
    sim: SimulatedGeobox,
    make_client: ClientFactory,
    exporter: InMemorySpanExporter,
    reader: InMemoryMetricReader,
) -> None:
    sim.faults.sequence("usage/summary", None, Fault.expire_token())
    by_key = make_client(apikey=DEMO_API_KEY)
    await by_key.get_usage_summary()
    user = await by_key.get_user()
    await by_key.get_api_usage(user, "day", "calls", days_before_now=3)
    with pytest.raises(NotFoundError):
        await by_key.get_user(999_999)
    by_password = make_client(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    await by_password.get_usage_summary()
    await by_password.get_usage_summary()  # the token expired: fetched again
    by_token = make_client(access_token=DEMO_ACCESS_TOKEN)
    await by_token.get_usage_summary()
    tokens_issued = [r.header("Authorization") for r in sim.requests if r.header("Authorization")]

    secrets = {DEMO_API_KEY, DEMO_PASSWORD, DEMO_ACCESS_TOKEN}
    secrets |= {str(h).removeprefix("Bearer ") for h in tokens_issued}
    seen = list(attribute_values(exporter, reader))
    assert len(seen) > 50
    assert any(key.endswith("url.full") and "apikey" not in value for key, value in seen)
    leaks = [(where, value) for where, value in seen for s in secrets if s in value]
    assert leaks == []
    # the token fetches happened and were recorded, without the token
    assert any(key.endswith("geobox.auth.reason") for key, _ in seen)
