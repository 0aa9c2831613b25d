"""The three stages the plugin adds: a span per call, a span per attempt, a limiter probe.

* :class:`CallSpanStage`, outermost (``Slot.LOGGING - 50``): the ``geobox.<operation>``
  span, a child of whatever span the host has current; the call duration; the cache
  result. Everything the pipeline does for the call happens under it.
* :class:`AttemptSpanStage`, inside the retry, breaker and rate limit stages and just
  outside auth (``Slot.AUTH - 50``), so it runs once per attempt: a ``CLIENT`` span with
  the HTTP semantic conventions, whose context is injected into the attempt's headers
  through the propagator, and the ``http.client.request.duration`` measurement.
* :class:`LimiterProbe`, between the breaker and the rate limiter
  (``Slot.RATE_LIMIT - 50``, only when rate limiting is on): notes when the attempt
  reached the limiter, so that the attempt stage can tell how long it waited there.

Without an OpenTelemetry SDK the tracer hands out non-recording spans: the stages then
attach no context, build no attribute and inject nothing (unless the host propagates a
remote parent, which is then passed on as the API specifies).
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context

from geobox_usage import CircuitOpenError, Clock, Handler, Request, Response
from geobox_usage_otel import _names as n
from geobox_usage_otel._telemetry import ClientTelemetry

__all__ = ["MIN_LIMITER_WAIT_S", "AttemptSpanStage", "CallSpanStage", "LimiterProbe"]

MIN_LIMITER_WAIT_S: Final = 0.001
"""Time spent in the rate limit stage below this is passing through it, not a wait."""

#: When the current attempt reached the rate limiter (the clock's monotonic reading).
_LIMITER_ENTERED: ContextVar[float | None] = ContextVar("geobox_otel_limiter", default=None)


class CallSpanStage:
    """One ``geobox.<operation>`` span and one duration measurement per call."""

    __slots__ = ("_telemetry",)

    def __init__(self, telemetry: ClientTelemetry) -> None:
        self._telemetry = telemetry

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        telemetry = self._telemetry
        span = telemetry.tracer.start_span(telemetry.names(request.spec)[0])
        token = None
        if span.is_recording():
            span.set_attributes({n.OPERATION: request.operation, n.REQUEST_ID: request.request_id})
            token = otel_context.attach(set_span_in_context(span))
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except asyncio.CancelledError:
            self._finish(span, request, started, "cancelled", None, None)
            raise
        except Exception as exc:
            self._finish(span, request, started, "error", None, exc)
            raise
        else:
            self._finish(span, request, started, "ok", response, None)
            return response
        finally:
            if token is not None:
                otel_context.detach(token)
            span.end()

    def _finish(
        self,
        span: Span,
        request: Request,
        started: float,
        outcome: str,
        response: Response | None,
        error: Exception | None,
    ) -> None:
        telemetry = self._telemetry
        cache = response.cache if response is not None else None
        error_type = n.error_type(error) if error is not None else None
        labels = telemetry.call_labels(request.operation, outcome, cache, error_type)
        telemetry.instruments.call_duration.record(time.perf_counter() - started, labels)
        if cache is not None:
            telemetry.instruments.cache_results.add(1, labels)
        if not span.is_recording():
            return
        span.set_attribute(n.OUTCOME, outcome)
        if response is not None:
            span.set_attribute(n.ATTEMPTS, response.attempts)
            if cache is not None:
                span.set_attribute(n.CACHE_RESULT, cache)
                if cache != "miss":
                    span.add_event(f"geobox.cache.{cache}")
        if error is not None:
            attempts = getattr(error, "attempts", None)
            if isinstance(attempts, int):
                span.set_attribute(n.ATTEMPTS, attempts)
            span.set_attribute(n.ERROR_TYPE, error_type or "")
            if isinstance(error, CircuitOpenError):
                span.add_event(
                    "geobox.breaker.rejected",
                    {n.SERVER_ADDRESS: error.host, n.BREAKER_RETRY_IN: error.retry_in},
                )
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))


class AttemptSpanStage:
    """One ``CLIENT`` span, one ``traceparent`` and one duration measurement per attempt."""

    __slots__ = ("_clock", "_telemetry")

    def __init__(self, telemetry: ClientTelemetry, clock: Clock) -> None:
        self._telemetry = telemetry
        self._clock = clock

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        telemetry = self._telemetry
        span = telemetry.tracer.start_span(telemetry.names(request.spec)[1], kind=SpanKind.CLIENT)
        if span.get_span_context().is_valid:
            request = telemetry.inject(request, span)
        recording = span.is_recording()
        token = None
        if recording:
            span.set_attributes(telemetry.attempt_attributes(request))
            token = otel_context.attach(set_span_in_context(span))
        entered = _LIMITER_ENTERED.get()
        if entered is not None:
            waited = self._clock.monotonic() - entered
            if waited >= MIN_LIMITER_WAIT_S:
                self._limiter_waited(span, recording, request.operation, waited)
        started = time.perf_counter()
        status: int | None = None
        error: BaseException | None = None
        try:
            response = await call_next(request)
            status = response.status
            return response
        except BaseException as exc:  # recorded and re-raised, cancellation included
            error = exc
            answered = getattr(exc, "status", None)
            if isinstance(answered, int):
                status = answered
            raise
        finally:
            error_type = n.error_type(error) if error is not None else None
            labels = telemetry.http_labels(request, status, error_type)
            telemetry.instruments.http_duration.record(time.perf_counter() - started, labels)
            if recording:
                if status is not None:
                    span.set_attribute(n.HTTP_STATUS_CODE, status)
                if error is not None:
                    span.set_attribute(n.ERROR_TYPE, error_type or "")
                    span.set_status(Status(StatusCode.ERROR, error_type))
            if token is not None:
                otel_context.detach(token)
            span.end()

    def _limiter_waited(self, span: Span, recording: bool, operation: str, waited: float) -> None:
        telemetry = self._telemetry
        labels = telemetry.labels(("limiter", operation), lambda: {n.OPERATION: operation})
        telemetry.instruments.limiter_waits.add(1, labels)
        if recording:
            span.add_event("geobox.rate_limit.wait", {n.WAIT_S: waited})


class LimiterProbe:
    """Notes when an attempt reached the rate limiter (see :class:`AttemptSpanStage`)."""

    __slots__ = ("_clock",)

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        token = _LIMITER_ENTERED.set(self._clock.monotonic())
        try:
            return await call_next(request)
        finally:
            _LIMITER_ENTERED.reset(token)
