"""The rate limiter's shared state behind a small protocol, and its in-memory default.

The state is three things: the budget of ``rate`` sends per ``period`` (a sliding
window), the adaptive (AIMD) rate, and the pause learnt from ``X-RateLimit-*``
headers. The stage (:mod:`geobox_usage.stages.ratelimit`) only queues and wakes
callers; every decision about *whether* a send may go now is the store's, so that a
store kept elsewhere (Redis, in the ``geobox-usage-redis`` plugin) shares one budget
across processes and hosts. The concurrency cap is not state of the store: it stays
local to each client.

The budget is a sliding-window log: at most ``limit`` sends in any ``span`` seconds,
where ``limit = max(1, floor(rate))`` and ``span = limit * period / rate``. With a
whole ``rate`` that is exactly "``rate`` per ``period``" (a server counting requests
in windows of ``period`` never sees more); a rate below one per period becomes one
send every ``period / rate`` seconds. Below the configured rate, after 429s, the
window is cut to a tenth of a second's worth of the adaptive rate (at least one send),
so the pacing stays smooth.

A store answers :meth:`RateLimitStore.acquire` without queueing anyone: it takes a
send if one is free *now*, else says how long until one may be. The waiting callers
ask again when that time comes, so they always follow the *current* rate.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final, Protocol, runtime_checkable

from geobox_usage._clock import Clock
from geobox_usage.config import RateLimitConfig
from geobox_usage.resilience._aimd import AimdState, on_success, on_throttle

__all__ = [
    "ADAPTIVE_BURST_S",
    "InMemoryRateLimitStore",
    "RateLimitStore",
    "SlidingWindow",
    "window_shape",
]

_TIME_EPSILON: Final = 1e-9
"""A wait shorter than this is float rounding of a wait already served: none."""

ADAPTIVE_BURST_S: Final = 0.1
"""Below the configured rate, the window holds this many seconds' worth of sends."""


def window_shape(state_rate: float | None, config: RateLimitConfig) -> tuple[int, float] | None:
    """The ``(limit, span)`` of the sliding window for a rate, or ``None`` for no limit.

    Args:
        state_rate: the rate now allowed, in sends per second (``None``: no limit).
        config: the settings; at the configured rate the window is ``rate`` per
            ``period`` (at least one send, the span stretched to keep the rate).
    """
    if state_rate is None:
        return None
    rate = config.rate
    if rate is not None and math.isclose(state_rate * config.period, rate):
        limit = max(1, math.floor(rate))
        return limit, limit * config.period / rate
    limit = max(1, math.floor(state_rate * ADAPTIVE_BURST_S))
    return limit, limit / state_rate


class SlidingWindow:
    """At most ``limit`` sends in any ``span`` seconds: the times of the latest sends.

    Not thread-safe; no I/O. Changing ``limit`` or ``span`` takes effect at the next
    :meth:`try_take`, for every caller.
    """

    __slots__ = ("_sent", "limit", "span")

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self._sent: deque[float] = deque()

    def reshape(self, limit: int, span: float) -> None:
        """Change the window (after a rate change)."""
        self.limit = limit
        self.span = span

    def try_take(self, now: float) -> float:
        """Take one send at ``now`` if the window has room: ``0.0``; else the seconds
        until it will have room (nothing is taken)."""
        sent = self._sent
        limit = self.limit
        if len(sent) >= limit:
            wait = sent[-limit] + self.span - now
            if wait > _TIME_EPSILON:
                return wait
        sent.append(now)
        while len(sent) > limit:
            sent.popleft()
        return 0.0


@runtime_checkable
class RateLimitStore(Protocol):
    """Where the rate limiter keeps its budget, its adaptive rate and its pause.

    A shared implementation keeps all three where every process using the credential
    sees them, and makes :meth:`acquire` atomic (in a Redis Lua script, say). Times are
    the store's own: the in-memory store reads the client's clock, a shared store its
    server's.
    """

    @property
    def state(self) -> AimdState | None:
        """The adaptive state as last known (``None`` when adaptation is off); a new
        object whenever it changes, so that ``is`` tells whether it did."""
        ...

    async def acquire(self) -> float:
        """Take one send if the budget (and any pause) allows one now: ``0.0``;
        otherwise the seconds until one may be free, taking nothing."""
        ...

    async def throttled(self, sent_epoch: int, measured: float) -> AimdState | None:
        """Account for a 429 answering a send made in ``sent_epoch``.

        Args:
            sent_epoch: ``state.epoch`` when the throttled attempt was sent.
            measured: this client's recent send rate (used when no rate is set).

        Returns:
            The new state when this 429 cut the rate, else ``None``.
        """
        ...

    def succeeded(self) -> None:
        """Account for a success while the rate is recovering (additive increase).

        Synchronous: a shared store may buffer it and apply it with its next
        :meth:`acquire`, so that a call still costs one round trip.
        """
        ...

    async def pause(self, seconds: float) -> bool:
        """Stop every send for ``seconds`` from now (a pause never gets shorter).

        Returns:
            Whether the pause got longer.
        """
        ...


class InMemoryRateLimitStore:
    """The default :class:`RateLimitStore`: one client's state, in memory.

    Args:
        config: the rate limit settings.
        clock: the clock its times are read from.
    """

    __slots__ = ("_clock", "_config", "_pause_until", "_state", "_window")

    def __init__(self, config: RateLimitConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        ceiling = config.rate / config.period if config.rate is not None else None
        self._state: AimdState | None = AimdState.initial(ceiling) if config.adaptive else None
        shape = window_shape(ceiling, config)
        self._window = SlidingWindow(*shape) if shape is not None else None
        self._pause_until = 0.0

    @property
    def state(self) -> AimdState | None:
        """See :attr:`RateLimitStore.state`."""
        return self._state

    async def acquire(self) -> float:
        """See :meth:`RateLimitStore.acquire`."""
        return self.acquire_now()

    def acquire_now(self) -> float:
        """:meth:`acquire` without a coroutine: an in-memory store never waits for I/O,
        so the rate limit stage asks it directly."""
        now = self._clock.monotonic()
        if self._pause_until:
            if now < self._pause_until:
                return self._pause_until - now
            self._pause_until = 0.0
        window = self._window
        return 0.0 if window is None else window.try_take(now)

    async def throttled(self, sent_epoch: int, measured: float) -> AimdState | None:
        """See :meth:`RateLimitStore.throttled`."""
        state = self._state
        if state is None:
            return None
        cut = on_throttle(state, sent_epoch=sent_epoch, measured=measured)
        if cut is state:
            return None
        self._adopt(cut)
        return cut

    def succeeded(self) -> None:
        """See :meth:`RateLimitStore.succeeded`."""
        state = self._state
        if state is not None and state.recovering:
            self._adopt(on_success(state))

    async def pause(self, seconds: float) -> bool:
        """See :meth:`RateLimitStore.pause`."""
        until = self._clock.monotonic() + seconds
        if until <= self._pause_until:
            return False
        self._pause_until = until
        return True

    def _adopt(self, state: AimdState) -> None:
        self._state = state
        shape = window_shape(state.rate, self._config)
        if shape is None:
            self._window = None
        elif self._window is None:
            self._window = SlidingWindow(*shape)
        else:
            self._window.reshape(*shape)

    def __repr__(self) -> str:
        rate = self._state.rate if self._state is not None else None
        return f"InMemoryRateLimitStore(rate={rate!r}, paused_until={self._pause_until!r})"
