"""Adaptive rate: AIMD on 429s, a send-rate meter, and ``X-RateLimit-*`` pauses.

Like botocore's adaptive retry mode (and TCP), the allowed rate drops multiplicatively
when the server says "too many requests" and grows back additively as calls succeed:

* on a 429 the rate is halved (never below :data:`MIN_RATE`, never above what it was).
  With no rate set yet, the cut starts from the measured send rate;
* one cut per round: a 429 answering an attempt sent *before* the last cut says
  nothing new about the lowered rate, so it is ignored (the ``epoch`` check). Without
  this, a burst of 429s already in flight would collapse the rate to the floor. A 429
  at the floor changes nothing and starts no new round;
* each success then adds ``target / RECOVERY_STEPS``; reaching the target (the
  configured rate, or the measured rate when none is configured) ends the recovery and
  restores the configured limit (or no limit at all).

All of it is pure: states are frozen values and time is an argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

__all__ = [
    "DECREASE_FACTOR",
    "EPOCH_THRESHOLD",
    "REMAINING_HEADER",
    "MIN_RATE",
    "RECOVERY_STEPS",
    "AimdState",
    "RateMeter",
    "on_success",
    "on_throttle",
    "pause_from_headers",
]

DECREASE_FACTOR: Final = 0.5
"""The multiplicative decrease applied on a 429."""

MIN_RATE: Final = 1.0
"""The lowest rate (requests per second) a cut goes to."""

RECOVERY_STEPS: Final = 10
"""Successes needed to climb back by the whole target; each adds ``target / 10``."""


@dataclass(frozen=True, slots=True)
class AimdState:
    """The adaptive part of the rate limiter.

    Attributes:
        ceiling: the configured rate in requests per second, or ``None`` for none.
        rate: the rate now allowed, or ``None`` for no limit.
        target: the rate being recovered towards; ``None`` when not recovering.
        epoch: how many cuts were made; attempts are tagged with it when sent.
    """

    ceiling: float | None
    rate: float | None
    target: float | None = None
    epoch: int = 0

    @classmethod
    def initial(cls, ceiling: float | None) -> AimdState:
        """The state before any 429: the configured rate, or no limit."""
        return cls(ceiling, ceiling)

    @property
    def recovering(self) -> bool:
        """Whether the rate is below its target and grows with each success."""
        return self.target is not None


def on_throttle(state: AimdState, *, sent_epoch: int, measured: float) -> AimdState:
    """The state after a 429 answering an attempt sent in epoch ``sent_epoch``.

    Args:
        state: the current state.
        sent_epoch: the epoch when the throttled attempt was sent.
        measured: the recent send rate, requests per second (used when no limit is set).

    Returns:
        ``state`` itself when the 429 is stale (sent before the last cut), else the cut
        state (its ``epoch`` one higher).
    """
    if sent_epoch < state.epoch:
        return state
    current = state.rate if state.rate is not None else max(measured, MIN_RATE)
    if state.target is not None:
        target = state.target
    elif state.ceiling is not None:
        target = state.ceiling
    else:
        target = current
    rate = min(current, max(MIN_RATE, current * DECREASE_FACTOR))
    if state.rate is not None and rate >= state.rate:
        return state  # already at the floor: nothing to cut, no new round
    return AimdState(state.ceiling, rate, target, state.epoch + 1)


def on_success(state: AimdState) -> AimdState:
    """The state after a success: additive increase while recovering, else unchanged."""
    target, rate = state.target, state.rate
    if target is None or rate is None:
        return state
    grown = rate + target / RECOVERY_STEPS
    if grown >= target:
        return AimdState(state.ceiling, state.ceiling, None, state.epoch)
    return replace(state, rate=grown)


class RateMeter:
    """Counts attempts in a sliding window to measure the current send rate.

    Args:
        window: the window, in seconds.
        buckets: its resolution.
    """

    __slots__ = ("_bucket", "_counts", "_first", "_width", "buckets", "window")

    def __init__(self, window: float = 1.0, buckets: int = 10) -> None:
        if window <= 0 or buckets < 1:
            raise ValueError(f"window must be > 0 and buckets >= 1, got {window!r}, {buckets!r}")
        self.window = window
        self.buckets = buckets
        self._width = window / buckets
        self._counts = [0] * buckets
        self._bucket: int | None = None
        self._first: float | None = None

    def tick(self, now: float) -> None:
        """Count one attempt sent at ``now``."""
        index = int(now // self._width)
        if index != self._bucket:
            self._advance(index)
            if self._first is None:
                self._first = now
        self._counts[index % self.buckets] += 1

    def _advance(self, index: int) -> None:
        last = self._bucket
        if last is None or index - last >= self.buckets:
            self._counts[:] = [0] * self.buckets
        elif index > last:
            for absolute in range(last + 1, index + 1):
                self._counts[absolute % self.buckets] = 0
        else:
            return
        self._bucket = index

    def rate(self, now: float) -> float:
        """Attempts per second over the window ending at ``now`` (0 before any)."""
        if self._first is None or self._bucket is None:
            return 0.0
        self._advance(int(now // self._width))
        span = min(self.window, max(self._width, now - self._first))
        return sum(self._counts) / span


REMAINING_HEADER: Final = "X-RateLimit-Remaining"
"""The header whose ``0`` asks for a pause (with ``X-RateLimit-Reset``)."""

EPOCH_THRESHOLD: Final = 365 * 24 * 3600.0
"""An ``X-RateLimit-Reset`` above this many seconds (a year) is read as an epoch time:
no rate window is that long, and every epoch time since 1971 is larger."""


def pause_from_headers(
    headers: Mapping[str, str] | None, *, now: float, max_pause: float
) -> float | None:
    """Seconds to pause new attempts for, from ``X-RateLimit-Remaining: 0`` and
    ``X-RateLimit-Reset``; ``None`` when the answer does not ask for a pause.

    ``X-RateLimit-Reset`` is read as seconds from now, as the simulator and most APIs
    send it, unless it is larger than :data:`EPOCH_THRESHOLD`: then it is an epoch
    time (GitHub's form), and the pause lasts until then. A reset in the past asks for
    nothing; a pause longer than ``max_pause`` is cut to ``max_pause``, so that no
    single answer can stop the client for long.

    Args:
        headers: the answer's headers.
        now: the wall-clock time (``Clock.time()``), for an epoch reset.
        max_pause: the longest pause one answer may ask for, in seconds.
    """
    if headers is None or headers.get(REMAINING_HEADER, "").strip() != "0":
        return None
    try:
        seconds = float(headers.get("X-RateLimit-Reset", ""))
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    if seconds > EPOCH_THRESHOLD:
        seconds -= now
    if seconds <= 0:
        return None
    return min(seconds, max_pause)
