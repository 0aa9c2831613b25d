"""The rate limit stage: a fixed rate, a cap on requests in flight, and AIMD on 429s.

Every attempt (not a cache hit: the cache sits outside) passes, in order:

1. a pause, while the server said ``X-RateLimit-Remaining: 0`` until
   ``X-RateLimit-Reset`` (seconds, or an epoch time; at most ``max_pause``). A pause
   that would pass the call's deadline fails the call at once with a
   :class:`~geobox_usage.RateLimitError`; nothing is sent;
2. the pacer (:class:`~geobox_usage.resilience._pacer.Pacer`, a GCRA): the configured
   ``rate`` per ``period`` (below one per period too), or the lower adaptive rate
   after 429s, or none at all. There is one pacer whose rate changes, and waiters
   follow the rate as it is when they wake, so a restored rate frees them at once;
3. an :class:`asyncio.Semaphore` of ``max_concurrency`` slots, held while the attempt
   is in flight.

Adaptive mode (the pure rules are in :mod:`geobox_usage.resilience._aimd`): a 429 halves
the allowed rate (starting from the measured send rate when no rate is configured);
successes add it back step by step until the configured rate (or no limit) is restored.
Changes are ``geobox.ratelimit`` events: ``slowdown`` on a cut that lowered the rate,
``speedup`` when the rate is restored, ``pause`` when the headers ask for one.

Everything acquired is released in ``finally``/``async with``: a cancelled attempt
gives back its slot at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from geobox_usage._clock import Clock
from geobox_usage._messages import Request, Response
from geobox_usage.config import RateLimitConfig
from geobox_usage.errors import HTTPStatusError, RateLimitError
from geobox_usage.events import EventBus
from geobox_usage.hookspecs import hookimpl
from geobox_usage.pipeline import Handler, PipelineContext, PipelineStage, Slot
from geobox_usage.resilience._aimd import (
    AimdState,
    RateMeter,
    on_success,
    on_throttle,
    pause_from_headers,
)
from geobox_usage.resilience._pacer import Pacer

__all__ = ["RateLimitStage", "geobox_usage_stage"]

# The adaptive limiter allows a burst of this many seconds' worth of its rate.
_ADAPTIVE_BURST_S = 0.1


class RateLimitStage:
    """Paces attempts and caps how many are in flight.

    Args:
        config: the rate limit settings.
        clock: for pauses and the rate meter.
        events: where ``geobox.ratelimit`` events go.
    """

    __slots__ = (
        "_aimd",
        "_clock",
        "_events",
        "_meter",
        "_pacer",
        "_pause_until",
        "_slots",
        "config",
    )

    def __init__(self, config: RateLimitConfig, clock: Clock, events: EventBus) -> None:
        self.config = config
        self._clock = clock
        self._events = events
        self._slots = asyncio.Semaphore(config.max_concurrency)
        ceiling = config.rate / config.period if config.rate is not None else None
        # A burst of one period's requests, as a window limiter of ``rate`` per
        # ``period`` allows (at least one).
        self._pacer = Pacer(ceiling, clock, burst=config.rate or 1.0)
        self._aimd: AimdState | None = AimdState.initial(ceiling) if config.adaptive else None
        self._meter = RateMeter() if config.adaptive and ceiling is None else None
        self._pause_until = 0.0

    @property
    def rate(self) -> float | None:
        """The rate now allowed, in requests per second (``None``: no limit)."""
        if self._aimd is not None:
            return self._aimd.rate
        return self.config.rate / self.config.period if self.config.rate else None

    @property
    def in_flight(self) -> int:
        """How many attempts hold a concurrency slot now."""
        return self.config.max_concurrency - self._slots._value

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        """Wait for a pause, the rate and a free slot; then send, and learn from the answer."""
        if self._pause_until:
            await self._wait_for_pause(request)
        pacer = self._pacer
        if not pacer.try_take(self._clock.monotonic()):
            await pacer.acquire()
        async with self._slots:
            aimd = self._aimd
            epoch = aimd.epoch if aimd is not None else 0
            if self._meter is not None:
                self._meter.tick(self._clock.monotonic())
            try:
                response = await call_next(request)
            except HTTPStatusError as exc:
                self._observe(exc.headers)
                if isinstance(exc, RateLimitError) and aimd is not None:
                    self._throttled(epoch)
                raise
            self._observe(response.headers)
            if aimd is not None and self._aimd is not None and self._aimd.recovering:
                self._recovered()
            return response

    async def _wait_for_pause(self, request: Request) -> None:
        while True:
            now = self._clock.monotonic()
            remaining = self._pause_until - now
            if remaining <= 0:
                self._pause_until = 0.0
                return
            if request.deadline is not None and self._pause_until >= request.deadline:
                raise self._paused_past_deadline(request, remaining)
            await self._clock.sleep(remaining)

    @staticmethod
    def _paused_past_deadline(request: Request, remaining: float) -> RateLimitError:
        return RateLimitError(
            f"{request.operation}: the server asked (X-RateLimit-Remaining: 0) to wait "
            f"{remaining:.3g}s, past the call's deadline; nothing was sent",
            method=request.method,
            url=request.display_url,
            retry_after=remaining,
            operation=request.operation,
            request_id=request.request_id,
        )

    def _observe(self, headers: Mapping[str, str] | None) -> None:
        pause = pause_from_headers(headers, now=self._clock.time(), max_pause=self.config.max_pause)
        if pause is None:
            return
        until = self._clock.monotonic() + pause
        if until > self._pause_until:
            self._pause_until = until
            self._events.emit(
                "geobox.ratelimit",
                action="pause",
                rate=self.rate,
                reason="X-RateLimit-Remaining: 0",
                pause_s=pause,
            )

    def _throttled(self, epoch: int) -> None:
        aimd = self._aimd
        assert aimd is not None
        measured = self._meter.rate(self._clock.monotonic()) if self._meter else 0.0
        cut = on_throttle(aimd, sent_epoch=epoch, measured=measured)
        if cut is aimd:
            return  # a 429 to an attempt sent before the last cut: already accounted for
        lowered = cut.rate != aimd.rate
        self._set_rate(cut)
        if lowered:  # at the floor a cut changes nothing, and says so not again
            self._events.emit(
                "geobox.ratelimit", action="slowdown", rate=cut.rate, reason="429", pause_s=None
            )

    def _recovered(self) -> None:
        aimd = self._aimd
        assert aimd is not None
        grown = on_success(aimd)
        self._set_rate(grown)
        if not grown.recovering:
            self._events.emit(
                "geobox.ratelimit",
                action="speedup",
                rate=grown.rate,
                reason="recovered",
                pause_s=None,
            )

    def _set_rate(self, state: AimdState) -> None:
        self._aimd = state
        pacer = self._pacer
        pacer.rate = state.rate  # the one pacer: its waiters follow the new rate
        if state.rate is not None and state.rate != state.ceiling:
            # A small burst keeps an adaptive rate's pacing smooth.
            pacer.burst = max(1.0, state.rate * _ADAPTIVE_BURST_S)
        else:
            pacer.burst = self.config.rate or 1.0

    def __repr__(self) -> str:
        return f"RateLimitStage({self.config!r}, rate={self.rate!r})"


@hookimpl
def geobox_usage_stage(context: PipelineContext) -> PipelineStage | None:
    """The built-in rate limit stage; none when ``rate_limit=None``."""
    if context.rate_limit is None:
        return None
    stage = RateLimitStage(context.rate_limit, context.clock, context.events)
    return PipelineStage(name="rate_limit", slot=Slot.RATE_LIMIT, stage=stage)
