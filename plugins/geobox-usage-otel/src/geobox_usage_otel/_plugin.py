"""The plugin object: stages and a listener, built once per client from its context."""

from __future__ import annotations

from typing import Final

from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import TracerProvider

from geobox_usage import PipelineContext, PipelineStage, Slot, hookimpl
from geobox_usage_otel import _names as n
from geobox_usage_otel._listener import EventRecorder
from geobox_usage_otel._stages import AttemptSpanStage, CallSpanStage, LimiterProbe
from geobox_usage_otel._telemetry import ClientTelemetry, Instruments, make_instruments

__all__ = ["ATTEMPT_SLOT", "CALL_SLOT", "LIMITER_PROBE_SLOT", "OpenTelemetryPlugin"]

CALL_SLOT: Final = Slot.LOGGING - 50
"""Outermost: the call span covers logging, cache, every attempt and every wait."""

LIMITER_PROBE_SLOT: Final = Slot.RATE_LIMIT - 50
"""Between the breaker and the rate limiter."""

ATTEMPT_SLOT: Final = Slot.AUTH - 50
"""Inside retry, breaker and rate limit, just outside auth: once per attempt."""


class OpenTelemetryPlugin:
    """Traces and metrics for every call of a geobox-usage client.

    Installing the ``geobox-usage-otel`` distribution registers one instance, using the
    global tracer provider, meter provider and propagator, for every client (its
    entry-point name is ``otel``: ``disable_plugins=("otel",)`` turns it off). Pass an
    instance with ``plugins=[OpenTelemetryPlugin(...)]`` to use other providers; it
    replaces the installed one (same ``plugin_name``).

    Args:
        tracer_provider: where spans go; the global one when ``None`` (resolved when
            each client is built).
        meter_provider: where measurements go; the global one when ``None``.
        propagator: injects each attempt's context into its headers; the global one
            (W3C ``traceparent`` and baggage unless configured otherwise) when ``None``.
    """

    plugin_name = "otel"

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._propagator = propagator
        self._instruments: tuple[MeterProvider, Instruments] | None = None

    def _telemetry(self, context: PipelineContext) -> ClientTelemetry:
        from geobox_usage_otel import __version__

        tracer_provider = self._tracer_provider or trace.get_tracer_provider()
        meter_provider = self._meter_provider or metrics.get_meter_provider()
        cached = self._instruments
        if cached is None or cached[0] is not meter_provider:
            meter = meter_provider.get_meter(n.INSTRUMENTATION_NAME, __version__)
            cached = self._instruments = (meter_provider, make_instruments(meter))
        tracer = tracer_provider.get_tracer(n.INSTRUMENTATION_NAME, __version__)
        return ClientTelemetry(tracer, cached[1], context.base_url, self._propagator)

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> list[PipelineStage]:
        """The call span stage, the attempt span stage and (with rate limiting) the probe."""
        telemetry = self._telemetry(context)
        stages = [
            PipelineStage("otel_call", CALL_SLOT, CallSpanStage(telemetry)),
            PipelineStage("otel_attempt", ATTEMPT_SLOT, AttemptSpanStage(telemetry, context.clock)),
        ]
        if context.rate_limit is not None:
            stages.append(
                PipelineStage("otel_limiter_probe", LIMITER_PROBE_SLOT, LimiterProbe(context.clock))
            )
        return stages

    @hookimpl
    def geobox_usage_listener(self, context: PipelineContext) -> EventRecorder:
        """Span events and counters from the pipeline's own events."""
        return EventRecorder(self._telemetry(context))

    def __repr__(self) -> str:
        return "OpenTelemetryPlugin()"
