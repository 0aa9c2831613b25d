"""The retry decision: after a failed attempt, wait and try again, or give up (and why).

One pure function, :func:`decide`, holds every rule about *whether* a call may be
repeated; the retry stage only sleeps and resends. The rules, most important first:

* An operation that is not idempotent (``update_usage``) is repeated only when the
  request provably never reached the server (connection refused or never established,
  a connect timeout, or a failure while fetching the token, before the request itself
  was sent) or when the server refused it outright (429, or 503 with ``Retry-After``).
  Never after a read timeout, a dropped connection, a 500/502/504 or a damaged body.
* Idempotent operations are also repeated after timeouts, dropped connections, 500,
  502, 503, 504 and bodies that could not be decoded (a truncated answer).
* 4xx answers other than 429 are never repeated, nor is anything that is not a
  :class:`~geobox_usage.GeoboxError`, nor a call refused by an open circuit.
* ``Retry-After`` sets the wait exactly (the next attempt starts no earlier); otherwise
  the wait is drawn from :func:`~geobox_usage.resilience.full_jitter`.
* A wait that would end at or past the call's deadline gives up at once.

The retry budget is checked by the stage after a ``Retry`` decision (it is shared
state); see :mod:`geobox_usage.resilience._budget`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from geobox_usage._spec import RequestSpec
from geobox_usage.config import RetryConfig
from geobox_usage.errors import (
    CircuitOpenError,
    GeoboxError,
    GeoboxTimeoutError,
    HTTPStatusError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
)
from geobox_usage.resilience._backoff import full_jitter

__all__ = [
    "ATTEMPTS_EXHAUSTED",
    "BUDGET_EXHAUSTED",
    "CIRCUIT_OPEN",
    "DEADLINE",
    "GiveUp",
    "NOT_IDEMPOTENT",
    "NOT_RETRYABLE",
    "Retry",
    "TOKEN_OPERATION",
    "WAIT_BACKOFF",
    "WAIT_RETRY_AFTER",
    "decide",
    "refusal",
]

ATTEMPTS_EXHAUSTED: Final = "attempts exhausted"
DEADLINE: Final = "deadline"
BUDGET_EXHAUSTED: Final = "retry budget exhausted"
NOT_IDEMPOTENT: Final = "not idempotent"
NOT_RETRYABLE: Final = "not retryable"
CIRCUIT_OPEN: Final = "circuit open"

WAIT_RETRY_AFTER: Final = "retry-after"
WAIT_BACKOFF: Final = "backoff"

TOKEN_OPERATION: Final = "auth_token"
"""Errors raised under this operation come from fetching a token: the call's own
request was not sent (see :mod:`geobox_usage.stages.auth`)."""

_GATEWAY_STATUSES: Final = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again after ``wait`` seconds.

    Attributes:
        wait: seconds to wait before the next attempt.
        reason: why this long: ``"retry-after"`` (the server said so) or ``"backoff"``.
    """

    wait: float
    reason: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop and raise the last error.

    Attributes:
        reason: why: ``"attempts exhausted"``, ``"deadline"``, ``"retry budget
            exhausted"``, ``"not idempotent"``, ``"not retryable"`` or ``"circuit open"``.
    """

    reason: str


def _not_sent(error: GeoboxError) -> bool:
    """Whether ``error`` proves the call's request never reached the server."""
    if error.operation == TOKEN_OPERATION:
        return True
    return isinstance(error, TransportError | GeoboxTimeoutError) and not error.request_sent


def refusal(spec: RequestSpec[Any], error: BaseException) -> str | None:
    """Why ``error`` must not be retried for ``spec``, or ``None`` if it may be.

    Args:
        spec: the operation of the call.
        error: what the attempt raised.

    Returns:
        ``None`` when the failure is one a retry may fix and repeating is safe;
        otherwise :data:`NOT_RETRYABLE`, :data:`NOT_IDEMPOTENT` or :data:`CIRCUIT_OPEN`.
    """
    if not isinstance(error, GeoboxError):
        return NOT_RETRYABLE  # a bug or a cancellation: never repeated
    if isinstance(error, CircuitOpenError):
        return CIRCUIT_OPEN
    # A token fetch is itself idempotent, and it failing means the call was not sent.
    safe = spec.idempotent or _not_sent(error)
    if isinstance(error, TransportError | GeoboxTimeoutError):
        return None if safe else NOT_IDEMPOTENT
    if isinstance(error, ResponseDecodeError):
        return NOT_RETRYABLE  # the server answered; asking again gets the same body
    if isinstance(error, RateLimitError):
        return None  # refused before any work
    if isinstance(error, ServerError):
        status = error.status
        if status == 503 and error.retry_after is not None:
            return None  # "overloaded, come back later": refused before any work
        if status in _GATEWAY_STATUSES or status == 500:
            return None if safe else NOT_IDEMPOTENT
        return NOT_RETRYABLE
    return NOT_RETRYABLE


def decide(
    spec: RequestSpec[Any],
    attempt: int,
    error: BaseException,
    now: float,
    deadline: float,
    *,
    config: RetryConfig,
    draw: float,
) -> Retry | GiveUp:
    """Whether, and after how long, to repeat a call whose attempt ``attempt`` failed.

    Args:
        spec: the operation of the call.
        attempt: the number of the attempt that failed, 1 for the first.
        error: what that attempt raised.
        now: the current monotonic time.
        deadline: the monotonic time by which the whole call must be over.
        config: the retry settings (attempts, backoff).
        draw: a uniform random number in ``[0, 1)`` for the jitter.

    Returns:
        :class:`Retry` with the wait, or :class:`GiveUp` with the reason.
    """
    reason = refusal(spec, error)
    if reason is not None:
        return GiveUp(reason)
    if attempt >= config.attempts:
        return GiveUp(ATTEMPTS_EXHAUSTED)
    retry_after = error.retry_after if isinstance(error, HTTPStatusError) else None
    if retry_after is not None:
        wait, why = retry_after, WAIT_RETRY_AFTER
    else:
        wait = full_jitter(attempt, config.backoff_base, config.backoff_max, draw)
        why = WAIT_BACKOFF
    if now + wait >= deadline:
        return GiveUp(DEADLINE)
    return Retry(wait, why)
