"""What the stages and the listener share: the tracer, the instruments, the labels.

Instruments are created once per meter provider and shared by every client the plugin
serves. Metric attribute sets are bounded (see :mod:`geobox_usage_otel._names`), so
each distinct set is built once and reused: recording a measurement allocates nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.metrics import Counter, Histogram, Meter
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import Span, Tracer, set_span_in_context
from opentelemetry.util.types import AttributeValue

from geobox_usage import Request, RequestSpec
from geobox_usage_otel import _names as n

__all__ = ["ClientTelemetry", "Instruments", "make_instruments"]

Labels = Mapping[str, AttributeValue]

#: The semantic conventions' advice for ``http.client.request.duration``, in seconds.
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

#: A bound on each label cache, in case a label set turns out larger than expected.
_MAX_CACHED_LABEL_SETS: Final = 512


@dataclass(frozen=True, slots=True)
class Instruments:
    """The plugin's metric instruments (see the docs page for each one's attributes)."""

    http_duration: Histogram
    call_duration: Histogram
    retries: Counter
    cache_results: Counter
    breaker_transitions: Counter
    limiter_waits: Counter
    token_fetches: Counter


def make_instruments(meter: Meter) -> Instruments:
    """Create the instruments on ``meter``."""
    return Instruments(
        http_duration=meter.create_histogram(
            n.METRIC_HTTP_DURATION,
            unit="s",
            description="Duration of HTTP client requests (one per attempt).",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        call_duration=meter.create_histogram(
            n.METRIC_CALL_DURATION,
            unit="s",
            description="Duration of geobox-usage calls, as the caller waited for them.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        ),
        retries=meter.create_counter(
            n.METRIC_RETRIES, unit="{retry}", description="Attempts repeated, by reason."
        ),
        cache_results=meter.create_counter(
            n.METRIC_CACHE_RESULTS,
            unit="{call}",
            description="Calls answered by the cache stage: hit, miss, stale or coalesced.",
        ),
        breaker_transitions=meter.create_counter(
            n.METRIC_BREAKER_TRANSITIONS,
            unit="{transition}",
            description="Circuit breaker state changes.",
        ),
        limiter_waits=meter.create_counter(
            n.METRIC_LIMITER_WAITS,
            unit="{wait}",
            description="Attempts that waited for the rate limiter.",
        ),
        token_fetches=meter.create_counter(
            n.METRIC_TOKEN_FETCHES,
            unit="{token}",
            description="Access tokens obtained, by reason (first use, expiring, expired).",
        ),
    )


class _LabelCache:
    """Builds each distinct attribute set once: ``get(key, build)``."""

    __slots__ = ("_sets",)

    def __init__(self) -> None:
        self._sets: dict[Hashable, Labels] = {}

    def get(self, key: Hashable, build: Callable[[], dict[str, AttributeValue]]) -> Labels:
        labels = self._sets.get(key)
        if labels is None:
            labels = build()
            if len(self._sets) < _MAX_CACHED_LABEL_SETS:
                self._sets[key] = labels
        return labels


class ClientTelemetry:
    """One client's view of the plugin: tracer, instruments and the server it calls.

    Args:
        tracer: where spans are started.
        instruments: where measurements go.
        base_url: the client's base URL (``server.address``, ``server.port`` and the
            ``url.template`` prefix come from it).
        propagator: injects the attempt's context into its headers; ``None`` uses the
            globally configured one (W3C ``traceparent`` and baggage by default).
    """

    __slots__ = (
        "_base_path",
        "_calls",
        "_http",
        "_inject",
        "_names",
        "instruments",
        "port",
        "server",
        "tracer",
    )

    def __init__(
        self,
        tracer: Tracer,
        instruments: Instruments,
        base_url: str,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        self.tracer = tracer
        self.instruments = instruments
        parts = urlsplit(base_url)
        self.server = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._base_path = parts.path if parts.path.endswith("/") else f"{parts.path}/"
        self._inject: Callable[..., None] = (
            propagator.inject if propagator is not None else propagate.inject
        )
        self._names: dict[str, tuple[str, str, str]] = {}
        self._http = _LabelCache()
        self._calls = _LabelCache()

    # -- names -------------------------------------------------------------------------

    def names(self, spec: RequestSpec[Any]) -> tuple[str, str, str]:
        """The call span's name, the attempt span's name and the URL template of ``spec``."""
        names = self._names.get(spec.name)
        if names is None:
            template = f"{self._base_path}{spec.path}"
            names = (f"geobox.{spec.name}", f"{spec.method} {template}", template)
            self._names[spec.name] = names
        return names

    # -- propagation -------------------------------------------------------------------

    def inject(self, request: Request, span: Span) -> Request:
        """``request`` with ``span``'s context in its headers (``traceparent``, ...)."""
        carrier: dict[str, str] = {}
        context: Context = set_span_in_context(span)
        self._inject(carrier, context=context)
        for name, value in carrier.items():
            request = request.with_header(name, value)
        return request

    # -- attributes --------------------------------------------------------------------

    def attempt_attributes(self, request: Request) -> dict[str, AttributeValue]:
        """The attempt span's attributes known before it is sent (no secret: the URL is
        the redacted ``display_url``, and no header is read)."""
        attributes: dict[str, AttributeValue] = {
            n.HTTP_METHOD: request.method,
            n.URL_FULL: request.display_url,
            n.URL_TEMPLATE: self.names(request.spec)[2],
            n.SERVER_ADDRESS: self.server,
            n.SERVER_PORT: self.port,
            n.OPERATION: request.operation,
            n.ATTEMPT: request.attempt,
        }
        if request.attempt > 1:
            attributes[n.HTTP_RESEND_COUNT] = request.attempt - 1
        return attributes

    def http_labels(self, request: Request, status: int | None, error: str | None) -> Labels:
        """The attributes of one ``http.client.request.duration`` measurement."""
        method, operation = request.method, request.operation

        def build() -> dict[str, AttributeValue]:
            labels: dict[str, AttributeValue] = {
                n.HTTP_METHOD: method,
                n.SERVER_ADDRESS: self.server,
                n.SERVER_PORT: self.port,
                n.OPERATION: operation,
            }
            if status is not None:
                labels[n.HTTP_STATUS_CODE] = status
            if error is not None:
                labels[n.ERROR_TYPE] = error
            return labels

        return self._http.get((method, operation, status, error), build)

    def call_labels(
        self, operation: str, outcome: str, cache: str | None, error: str | None
    ) -> Labels:
        """The attributes of one call measurement (duration; cache result)."""

        def build() -> dict[str, AttributeValue]:
            labels: dict[str, AttributeValue] = {n.OPERATION: operation, n.OUTCOME: outcome}
            if cache is not None:
                labels[n.CACHE_RESULT] = cache
            if error is not None:
                labels[n.ERROR_TYPE] = error
            return labels

        return self._calls.get((operation, outcome, cache, error), build)

    def labels(self, key: Hashable, build: Callable[[], dict[str, AttributeValue]]) -> Labels:
        """Any other bounded attribute set, built once (the listener's counters)."""
        return self._calls.get(key, build)
