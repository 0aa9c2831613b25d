"""The span tree of a call, and the traceparent each attempt carries."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from geobox_usage import (
    AsyncGeoboxClient,
    CircuitBreakerConfig,
    CircuitOpenError,
    RateLimitConfig,
    RetryConfig,
)
from geobox_usage.testing import DEMO_PASSWORD, DEMO_USERNAME, Fault, SimulatedGeobox

ClientFactory = Callable[..., AsyncGeoboxClient]


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def event_names(span: ReadableSpan) -> list[str]:
    return [e.name for e in span.events]


async def test_a_call_retried_after_a_503_with_retry_after_makes_this_span_tree(
    sim: SimulatedGeobox,
    make_client: ClientFactory,
    exporter: InMemorySpanExporter,
    tracer_provider: TracerProvider,
) -> None:
    sim.faults.sequence("usage/summary", Fault.status(503, retry_after=0.01))
    client = make_client()
    host_tracer = tracer_provider.get_tracer("host-app")
    with host_tracer.start_as_current_span("host request") as host:
        await client.get_usage_summary()

    spans = exporter.get_finished_spans()
    (call,) = by_name(spans, "geobox.get_usage_summary")
    attempts = by_name(spans, "GET /v1/usage/summary")
    assert len(spans) == 4 and len(attempts) == 2
    # the call is a child of the host's span; both attempts are children of the call
    assert call.parent is not None and call.parent.span_id == host.get_span_context().span_id
    assert call.context.trace_id == host.get_span_context().trace_id
    for attempt in attempts:
        assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
        assert attempt.kind is SpanKind.CLIENT
    first, second = sorted(attempts, key=lambda s: s.start_time or 0)
    assert call.attributes is not None and first.attributes is not None
    assert second.attributes is not None
    assert call.attributes["geobox.operation"] == "get_usage_summary"
    assert call.attributes["geobox.attempts"] == 2
    assert call.attributes["geobox.outcome"] == "ok"
    assert call.status.status_code is StatusCode.UNSET
    # the retry and its wait are an event of the call, between the two attempts
    (retry,) = [e for e in call.events if e.name == "geobox.retry"]
    assert retry.attributes == {
        "geobox.attempt": 1,
        "geobox.retry.reason": "503",
        "geobox.wait.reason": "retry-after",
        "geobox.wait.seconds": 0.01,
    }
    assert (first.end_time or 0) <= retry.timestamp <= (second.start_time or 0)
    # HTTP client semantic conventions on each attempt
    assert first.attributes["http.request.method"] == "GET"
    assert first.attributes["url.full"] == f"{client.base_url}usage/summary"
    assert first.attributes["url.template"] == "/v1/usage/summary"
    assert first.attributes["server.address"] == "127.0.0.1"
    assert first.attributes["server.port"] == int(sim.base_url.rsplit(":", 1)[1].strip("/"))
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.response.status_code"] == 200
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["geobox.attempt"] == 2
    assert "error.type" not in second.attributes


async def test_the_traceparent_the_server_received_is_the_attempt_span(
    sim: SimulatedGeobox, make_client: ClientFactory, exporter: InMemorySpanExporter
) -> None:
    sim.faults.sequence("usage/summary", Fault.status(503, retry_after=0.01))
    await make_client().get_usage_summary()

    attempts = sorted(
        by_name(exporter.get_finished_spans(), "GET /v1/usage/summary"),
        key=lambda s: s.start_time or 0,
    )
    received = [r.header("traceparent") for r in sim.requests if r.path.endswith("summary")]
    expected = [
        f"00-{s.context.trace_id:032x}-{s.context.span_id:016x}-{s.context.trace_flags:02x}"
        for s in attempts
    ]
    assert len(expected) == 2 and received == expected


async def test_a_token_fetch_and_the_limiter_wait_are_events_of_the_attempt(
    sim: SimulatedGeobox, make_client: ClientFactory, exporter: InMemorySpanExporter
) -> None:
    client = make_client(
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
        rate_limit=RateLimitConfig(rate=1, period=0.05, adaptive=False),
    )
    await client.get_usage_summary()
    await client.get_usage_summary()  # waits about 50 ms for the limiter

    first, second = sorted(
        by_name(exporter.get_finished_spans(), "GET /v1/usage/summary"),
        key=lambda s: s.start_time or 0,
    )
    (token,) = [e for e in first.events if e.name == "geobox.auth.token"]
    assert token.attributes is not None
    assert token.attributes["geobox.auth.reason"] == "first use"
    (wait,) = [e for e in second.events if e.name == "geobox.rate_limit.wait"]
    assert wait.attributes is not None
    waited = wait.attributes["geobox.wait.seconds"]
    assert isinstance(waited, float) and 0.01 < waited < 1.0


async def test_breaker_transitions_and_refusals_are_events_of_the_call(
    sim: SimulatedGeobox, make_client: ClientFactory, exporter: InMemorySpanExporter
) -> None:
    sim.faults.sequence("usage/summary", Fault.status(500))
    client = make_client(
        retry=RetryConfig(attempts=1),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1, cooldown=30),
    )
    with pytest.raises(Exception, match="500"):
        await client.get_usage_summary()
    with pytest.raises(CircuitOpenError):
        await client.get_usage_summary()

    failed, refused = sorted(
        by_name(exporter.get_finished_spans(), "geobox.get_usage_summary"),
        key=lambda s: s.start_time or 0,
    )
    (opened,) = [e for e in failed.events if e.name == "geobox.breaker.transition"]
    assert opened.attributes is not None
    assert opened.attributes["geobox.breaker.old_state"] == "closed"
    assert opened.attributes["geobox.breaker.new_state"] == "open"
    assert failed.attributes is not None and failed.attributes["error.type"] == "500"
    assert failed.status.status_code is StatusCode.ERROR
    assert "geobox.give_up" in event_names(failed)
    (rejected,) = [e for e in refused.events if e.name == "geobox.breaker.rejected"]
    assert rejected.attributes is not None
    assert 0 < float(rejected.attributes["geobox.breaker.retry_in"]) <= 30  # type: ignore[arg-type]
    assert refused.attributes is not None
    assert refused.attributes["error.type"] == "CircuitOpenError"
    # the refused call sent nothing, so it has no attempt span
    assert len(by_name(exporter.get_finished_spans(), "GET /v1/usage/summary")) == 1


async def test_cache_hits_and_shared_flights_are_events_of_the_call(
    sim: SimulatedGeobox, make_client: ClientFactory, exporter: InMemorySpanExporter
) -> None:
    import asyncio

    from geobox_usage import CacheConfig

    client = make_client(cache=CacheConfig(ttl=60))
    await asyncio.gather(client.get_usage_summary(), client.get_usage_summary())
    await client.get_usage_summary()

    calls = by_name(exporter.get_finished_spans(), "geobox.get_usage_summary")
    results = sorted(str((s.attributes or {})["geobox.cache.result"]) for s in calls)
    assert results == ["coalesced", "hit", "miss"]
    events = sorted(name for s in calls for name in event_names(s))
    assert events == ["geobox.cache.coalesced", "geobox.cache.hit"]
    assert len(by_name(exporter.get_finished_spans(), "GET /v1/usage/summary")) == 1


async def test_without_an_sdk_nothing_is_recorded_and_nothing_is_injected(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    from geobox_usage_otel import OpenTelemetryPlugin

    client = make_client(plugins=[OpenTelemetryPlugin()])  # the global, no-op providers
    assert "otel_attempt" in client.pipeline.names
    await client.get_usage_summary()
    assert sim.requests[-1].header("traceparent") is None


async def test_without_an_sdk_the_hosts_remote_parent_is_passed_on(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    from geobox_usage_otel import OpenTelemetryPlugin
    from opentelemetry import context
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    client = make_client(plugins=[OpenTelemetryPlugin()])
    parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        await client.get_usage_summary()
    finally:
        context.detach(token)
    assert sim.requests[-1].header("traceparent") == (
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    )
