"""The rate limit stage: a fixed rate, a cap on requests in flight, and AIMD on 429s.

Every attempt (not a cache hit: the cache sits outside) passes, in order:

1. a pause, while the server said ``X-RateLimit-Remaining: 0`` until
   ``X-RateLimit-Reset``;
2. the rate limiter, an :class:`aiolimiter.AsyncLimiter`: the configured
   ``rate`` per ``period``, or the lower adaptive rate after 429s, or none at all;
3. an :class:`asyncio.Semaphore` of ``max_concurrency`` slots, held while the attempt
   is in flight.

Adaptive mode (the pure rules are in :mod:`geobox_usage.resilience._aimd`): a 429 halves
the allowed rate (starting from the measured send rate when no rate is configured);
successes add it back step by step until the configured rate (or no limit) is restored.
Changes are ``geobox.ratelimit`` events: ``slowdown`` on a cut, ``speedup`` when the
rate is restored, ``pause`` when the headers ask for one.

Everything acquired is released in ``finally``/``async with``: a cancelled attempt
gives back its slot at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiolimiter import AsyncLimiter

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
        "_fixed",
        "_limiter",
        "_meter",
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
        self._fixed = AsyncLimiter(config.rate, config.period) if config.rate else None
        self._limiter: AsyncLimiter | None = self._fixed
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
            await self._wait_for_pause()
        limiter = self._limiter
        if limiter is not None:
            await limiter.acquire()
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

    async def _wait_for_pause(self) -> None:
        while True:
            remaining = self._pause_until - self._clock.monotonic()
            if remaining <= 0:
                self._pause_until = 0.0
                return
            await self._clock.sleep(remaining)

    def _observe(self, headers: Mapping[str, str] | None) -> None:
        pause = pause_from_headers(headers)
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
        self._set_rate(cut)
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
        rate = state.rate
        if rate is None:
            self._limiter = None
        elif state.rate == state.ceiling:
            self._limiter = self._fixed
        else:
            # A small burst keeps the pacing smooth; aiolimiter needs capacity >= 1.
            capacity = max(1.0, rate * _ADAPTIVE_BURST_S)
            self._limiter = AsyncLimiter(capacity, capacity / rate)

    def __repr__(self) -> str:
        return f"RateLimitStage({self.config!r}, rate={self.rate!r})"


@hookimpl
def geobox_usage_stage(context: PipelineContext) -> PipelineStage | None:
    """The built-in rate limit stage; none when ``rate_limit=None``."""
    if context.rate_limit is None:
        return None
    stage = RateLimitStage(context.rate_limit, context.clock, context.events)
    return PipelineStage(name="rate_limit", slot=Slot.RATE_LIMIT, stage=stage)
