"""The circuit breaker stage: stop calling a host that keeps failing.

Per host, after ``failure_threshold`` consecutive failures (transport errors, timeouts,
5xx) the circuit opens and calls fail fast with :class:`~geobox_usage.CircuitOpenError`
without touching the network; after ``cooldown`` one probe is let through, and its
success closes the circuit. The rules are the pure state machine in
:mod:`geobox_usage.resilience._breaker_state`; the state sits in a
:class:`~geobox_usage.resilience.BreakerStore` (in memory by default). Each change of
state is a ``geobox.breaker`` event. A probe that is cancelled frees its slot, so a
half-open circuit is never left waiting on a call that will not finish.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from geobox_usage._clock import Clock
from geobox_usage._messages import Request, Response
from geobox_usage.config import CircuitBreakerConfig
from geobox_usage.errors import (
    CircuitOpenError,
    GeoboxTimeoutError,
    ServerError,
    TransportError,
)
from geobox_usage.events import EventBus
from geobox_usage.hookspecs import hookimpl
from geobox_usage.pipeline import Handler, PipelineContext, PipelineStage, Slot
from geobox_usage.resilience._breaker_state import (
    Admission,
    BreakerStore,
    InMemoryBreakerStore,
    Outcome,
    Transition,
)

__all__ = ["CircuitBreakerStage", "classify", "geobox_usage_stage"]


def classify(error: BaseException) -> Outcome:
    """How an attempt's error counts: a failure (the host is unwell) or neutral.

    Transport errors, timeouts and 5xx are failures. A 4xx (other than 429) proves the
    host answered, so it counts as a success; a 429, an undecodable body, a
    cancellation or anything else says nothing about the host's health.
    """
    if isinstance(error, TransportError | GeoboxTimeoutError | ServerError):
        return Outcome.FAILURE
    status = getattr(error, "status", None)
    if isinstance(status, int) and 400 <= status < 500 and status != 429:
        return Outcome.SUCCESS
    return Outcome.NEUTRAL


class CircuitBreakerStage:
    """Fails fast while a host's circuit is open.

    Args:
        base_url: the client's base URL (its host is the usual key, computed once).
        clock: for the cooldown.
        events: where ``geobox.breaker`` events go.
        store: the breaker state, per host.
    """

    __slots__ = ("_base", "_base_host", "_clock", "_events", "_local", "store")

    def __init__(self, base_url: str, clock: Clock, events: EventBus, store: BreakerStore) -> None:
        self._base = base_url
        self._base_host = urlsplit(base_url).netloc
        self._clock = clock
        self._events = events
        self.store = store
        # Exactly the built-in store (a subclass may override the async methods).
        self._local = store if type(store) is InMemoryBreakerStore else None

    def host_of(self, url: str) -> str:
        """The key a URL's breaker state is kept under: its ``host[:port]``."""
        if url.startswith(self._base):
            return self._base_host
        return urlsplit(url).netloc

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        """Refuse at once if the host's circuit is open; else send and record the outcome."""
        url = request.url
        host = self._base_host if url.startswith(self._base) else self.host_of(url)
        store = self.store
        local = self._local  # the in-memory store: asked without a coroutine per call
        if local is not None:
            admission, change = local.admit_now(host, self._clock.monotonic())
        else:
            admission, change = await store.admit(host, self._clock.monotonic())
        if change is not None:
            self._emit(host, change)
        if not admission.allowed:
            raise await self._refusal(host, admission, request)
        outcome = Outcome.NEUTRAL  # stays so if cancelled: frees a half-open probe
        try:
            response = await call_next(request)
            outcome = Outcome.SUCCESS
            return response
        except Exception as exc:
            outcome = classify(exc)
            raise
        finally:
            now = self._clock.monotonic()
            if local is not None:
                change = local.record_now(host, outcome, now, probe=admission.probe)
            else:
                change = await store.record(host, outcome, now, probe=admission.probe)
            if change is not None:
                self._emit(host, change)

    async def _refusal(self, host: str, admission: Admission, request: Request) -> CircuitOpenError:
        state = await self.store.state(host)
        return CircuitOpenError(
            f"{request.operation}: the circuit for {host} is open after "
            f"{state.failures} consecutive failures; nothing was sent "
            f"(next probe in {admission.retry_in:.3g}s)",
            host=host,
            retry_in=admission.retry_in,
            operation=request.operation,
            request_id=request.request_id,
        )

    def _emit(self, host: str, change: Transition) -> None:
        self._events.emit(
            "geobox.breaker",
            host=host,
            old_state=change.old.value,
            new_state=change.new.value,
            failures=change.failures,
        )

    def __repr__(self) -> str:
        return f"CircuitBreakerStage(store={self.store!r})"


@hookimpl
def geobox_usage_stage(context: PipelineContext) -> PipelineStage | None:
    """The built-in breaker stage; none when ``circuit_breaker=None``.

    A :class:`~geobox_usage.resilience.BreakerStore` returned by the
    ``geobox_usage_breaker_store`` hook replaces the in-memory one; its ``aclose``
    coroutine, if it has one, is awaited when the client closes.
    """
    config: CircuitBreakerConfig | None = context.circuit_breaker
    if config is None:
        return None
    store: Any = context.hook.geobox_usage_breaker_store(context=context)
    if store is None:
        store = InMemoryBreakerStore(config.failure_threshold, config.cooldown)
    elif not isinstance(store, BreakerStore):
        raise ValueError(f"geobox_usage_breaker_store must answer a BreakerStore, got {store!r}")
    stage = CircuitBreakerStage(context.base_url, context.clock, context.events, store)
    # A store that holds a connection (Redis, say) is closed with the client.
    close: Any = getattr(store, "aclose", None)
    return PipelineStage(
        name="circuit_breaker", slot=Slot.CIRCUIT_BREAKER, stage=stage, aclose=close
    )
