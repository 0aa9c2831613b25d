"""Settings for the pipeline's stages, passed to :class:`AsyncGeoboxClient` by keyword.

Each is a frozen dataclass that checks its values when built, so a wrong setting fails
at construction with a message naming the field and what is allowed, never later in
the middle of a call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "CacheConfig",
    "CircuitBreakerConfig",
    "RateLimitConfig",
    "ResponseLimits",
    "RetryConfig",
    "TimeoutConfig",
]


def _require(condition: bool, owner: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{owner}: {message}")


def _number(value: object) -> float | None:
    """``value`` as a finite float, or ``None`` if it is not a finite number (or a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _positive(owner: str, name: str, value: object) -> None:
    number = _number(value)
    _require(
        number is not None and number > 0, owner, f"{name} must be a number > 0, got {value!r}"
    )


def _non_negative(owner: str, name: str, value: object) -> None:
    number = _number(value)
    _require(
        number is not None and number >= 0, owner, f"{name} must be a number >= 0, got {value!r}"
    )


def _positive_int(owner: str, name: str, value: object) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        owner,
        f"{name} must be an integer >= 1, got {value!r}",
    )


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """How failed attempts are repeated.

    Attributes:
        attempts: the most attempts one call makes, the first included.
        backoff_base: the first backoff's upper bound, in seconds (full jitter).
        backoff_max: the cap on one backoff, in seconds.
        deadline: seconds the whole call (attempts and waits) may take.
        budget_ratio: retries may be at most this share of the requests of the last
            10 seconds (plus ``budget_min_per_s``), so an outage does not multiply load.
        budget_min_per_s: retries per second always allowed, however few requests ran.
    """

    attempts: int = 4
    backoff_base: float = 0.2
    backoff_max: float = 10.0
    deadline: float = 60.0
    budget_ratio: float = 0.2
    budget_min_per_s: float = 5.0

    def __post_init__(self) -> None:
        owner = "RetryConfig"
        _positive_int(owner, "attempts", self.attempts)
        _non_negative(owner, "backoff_base", self.backoff_base)
        _non_negative(owner, "backoff_max", self.backoff_max)
        _require(
            self.backoff_max >= self.backoff_base,
            owner,
            f"backoff_max ({self.backoff_max!r}) must be >= backoff_base ({self.backoff_base!r})",
        )
        _positive(owner, "deadline", self.deadline)
        _require(
            _number(self.budget_ratio) is not None and 0 <= self.budget_ratio <= 1,
            owner,
            f"budget_ratio must be a number from 0 to 1, got {self.budget_ratio!r}",
        )
        _non_negative(owner, "budget_min_per_s", self.budget_min_per_s)


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """How fast, and how many at once, requests may go out.

    Attributes:
        rate: requests allowed per ``period`` (at most ``rate`` in any window of
            ``period`` seconds); ``None`` sets no fixed rate (the adaptive part still
            slows down after 429s). A rate below one is allowed: ``rate=0.5,
            period=1.0`` sends one request every two seconds.
        period: the length of the rate window, in seconds.
        max_concurrency: the most requests in flight at once.
        adaptive: lower the rate on 429s and raise it back after successes (AIMD).
        max_pause: the longest pause, in seconds, that one answer's
            ``X-RateLimit-Remaining: 0`` / ``X-RateLimit-Reset`` may impose.
    """

    rate: float | None = None
    period: float = 1.0
    max_concurrency: int = 64
    adaptive: bool = True
    max_pause: float = 60.0

    def __post_init__(self) -> None:
        owner = "RateLimitConfig"
        if self.rate is not None:
            _positive(owner, "rate", self.rate)
        _positive(owner, "period", self.period)
        _positive_int(owner, "max_concurrency", self.max_concurrency)
        _positive(owner, "max_pause", self.max_pause)
        _require(
            isinstance(self.adaptive, bool),
            owner,
            f"adaptive must be a bool, got {self.adaptive!r}",
        )
        _positive(owner, "max_pause", self.max_pause)


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    """When to stop calling a failing host, and for how long.

    Attributes:
        failure_threshold: consecutive failures that open the circuit.
        cooldown: seconds the circuit stays open before one probe is let through.
    """

    failure_threshold: int = 5
    cooldown: float = 10.0

    def __post_init__(self) -> None:
        owner = "CircuitBreakerConfig"
        _positive_int(owner, "failure_threshold", self.failure_threshold)
        _positive(owner, "cooldown", self.cooldown)


@dataclass(frozen=True, slots=True)
class TimeoutConfig:
    """Time limits for each attempt (the whole call is bounded by ``RetryConfig.deadline``).

    Attributes:
        connect: seconds to establish a connection.
        read: seconds one attempt may take in all, from sending the request to the
            last byte of the answer (a connection being opened counts too): a server
            that trickles its answer is cut off here, however steadily it writes.
    """

    connect: float = 10.0
    read: float = 30.0

    def __post_init__(self) -> None:
        owner = "TimeoutConfig"
        _positive(owner, "connect", self.connect)
        _positive(owner, "read", self.read)


@dataclass(frozen=True, slots=True)
class ResponseLimits:
    """How much of an answer the client reads before it refuses it.

    The usage API's answers are small (a summary is a few hundred bytes; a year of
    hourly points under 300 KiB), so the default leaves ample room and still stops a
    hostile or broken server, an endless body or a compression bomb, within a few MiB.

    Attributes:
        max_body_bytes: the most bytes of one answer's body, counted after
            decompression. A successful answer past it raises
            :class:`~geobox_usage.ResponseTooLargeError` (not retried); an error answer
            past it is reported from its first ``max_body_bytes`` bytes.
    """

    max_body_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        _positive_int("ResponseLimits", "max_body_bytes", self.max_body_bytes)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """The response cache.

    Attributes:
        ttl: seconds an entry stays fresh (the server's ``Cache-Control`` wins).
        max_entries: the most entries kept; the least recently used go first.
        stale_if_error: seconds past expiry during which an entry may still be served
            when the server fails.
        max_bytes: the most body bytes the in-memory store keeps, all entries
            together; the least recently used go first. An answer larger than an
            eighth of it is not stored, so one large answer never flushes the rest.
    """

    ttl: float = 30.0
    max_entries: int = 1024
    stale_if_error: float = 0.0
    max_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        owner = "CacheConfig"
        _positive(owner, "ttl", self.ttl)
        _positive_int(owner, "max_entries", self.max_entries)
        _positive_int(owner, "max_bytes", self.max_bytes)
        _non_negative(owner, "stale_if_error", self.stale_if_error)
