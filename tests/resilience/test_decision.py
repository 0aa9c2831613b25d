"""The retry decision: what is repeated, for which operation, how long to wait."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from geobox_usage import specs
from geobox_usage.config import RetryConfig
from geobox_usage.errors import (
    AuthenticationError,
    CircuitOpenError,
    GeoboxError,
    GeoboxTimeoutError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
    ValidationError,
)
from geobox_usage.resilience import GiveUp, Retry, backoff_ceiling, decide, refusal

GET = specs.USAGE_SUMMARY
UPDATE = specs.UPDATE_USAGE
CONFIG = RetryConfig(attempts=4, backoff_base=0.1, backoff_max=1.0, deadline=10.0)


def http(cls: type[Any], status: int, retry_after: float | None = None, op: str = "x") -> Any:
    return cls(
        status=status,
        method="GET",
        url="http://h/v1/x",
        retry_after=retry_after,
        headers=CIMultiDictProxy(CIMultiDict()),
        operation=op,
    )


REFUSED = TransportError("refused", request_sent=False)
DROPPED = TransportError("dropped", request_sent=True)
CONNECT_TIMEOUT = GeoboxTimeoutError("connect", request_sent=False)
READ_TIMEOUT = GeoboxTimeoutError("read", request_sent=True)
NOT_JSON = ResponseDecodeError("bad", status=200, body="<html>")

# (error, retried for GET, retried for update_usage)
TABLE: list[tuple[BaseException, bool, bool]] = [
    (REFUSED, True, True),
    (CONNECT_TIMEOUT, True, True),
    (DROPPED, True, False),
    (READ_TIMEOUT, True, False),
    (NOT_JSON, False, False),  # the server answered: asking again gets the same body
    (http(RateLimitError, 429), True, True),
    (http(RateLimitError, 429, 0.5), True, True),
    (http(ServerError, 503, 0.5), True, True),
    (http(ServerError, 503), True, False),
    (http(ServerError, 502), True, False),
    (http(ServerError, 504), True, False),
    (http(ServerError, 500), True, False),
    (http(ServerError, 501), False, False),
    (http(NotFoundError, 404), False, False),
    (http(ValidationError, 422), False, False),
    (http(AuthenticationError, 401), False, False),
    (CircuitOpenError("open", host="h", retry_in=1.0), False, False),
    (GeoboxError("other"), False, False),
    (ValueError("a bug"), False, False),
    # Failures while fetching the token: the call itself was never sent.
    (http(ServerError, 502, op="auth_token"), True, True),
    (TransportError("dropped", request_sent=True, operation="auth_token"), True, True),
    (http(AuthenticationError, 401, op="auth_token"), False, False),
]


@pytest.mark.parametrize(("error", "for_get", "for_update"), TABLE)
def test_what_is_retried(error: BaseException, for_get: bool, for_update: bool) -> None:
    assert (refusal(GET, error) is None) is for_get
    assert (refusal(UPDATE, error) is None) is for_update


def test_update_refusals_say_not_idempotent() -> None:
    assert refusal(UPDATE, READ_TIMEOUT) == "not idempotent"
    assert refusal(UPDATE, DROPPED) == "not idempotent"
    assert refusal(GET, http(NotFoundError, 404)) == "not retryable"
    assert refusal(GET, CircuitOpenError("o", host="h", retry_in=1)) == "circuit open"


def test_retry_after_sets_the_wait_exactly() -> None:
    decision = decide(GET, 1, http(RateLimitError, 429, 2.5), 0.0, 10.0, config=CONFIG, draw=0.9)
    assert decision == Retry(2.5, "retry-after")


def test_retry_after_past_the_deadline_gives_up_at_once() -> None:
    decision = decide(GET, 1, http(RateLimitError, 429, 20.0), 0.0, 10.0, config=CONFIG, draw=0)
    assert decision == GiveUp("deadline")


def test_attempts_are_counted() -> None:
    assert decide(GET, 3, REFUSED, 0.0, 10.0, config=CONFIG, draw=0.5) == Retry(0.2, "backoff")
    assert decide(GET, 4, REFUSED, 0.0, 10.0, config=CONFIG, draw=0.5) == GiveUp(
        "attempts exhausted"
    )


def test_a_refusal_wins_over_attempts() -> None:
    assert decide(UPDATE, 4, DROPPED, 0.0, 10.0, config=CONFIG, draw=0.5) == GiveUp(
        "not idempotent"
    )


@given(
    attempt=st.integers(1, 50),
    now=st.floats(0, 1e6),
    budget=st.floats(0, 100),
    draw=st.floats(0, 1, exclude_max=True),
    retry_after=st.none() | st.floats(0, 200),
    base=st.floats(0, 5),
    extra=st.floats(0, 60),
    attempts=st.integers(1, 20),
)
def test_a_retry_never_waits_past_the_deadline(
    attempt: int,
    now: float,
    budget: float,
    draw: float,
    retry_after: float | None,
    base: float,
    extra: float,
    attempts: int,
) -> None:
    config = RetryConfig(attempts=attempts, backoff_base=base, backoff_max=base + extra)
    error = http(RateLimitError, 429, retry_after)
    deadline = now + budget
    decision = decide(GET, attempt, error, now, deadline, config=config, draw=draw)
    if isinstance(decision, Retry):
        assert now + decision.wait < deadline
        assert attempt < attempts
        if retry_after is not None:
            assert decision.wait == retry_after  # never earlier than the server asked
        else:
            assert 0 <= decision.wait <= backoff_ceiling(attempt, base, base + extra)
            assert decision.wait <= config.backoff_max
    else:
        assert decision.reason in {"deadline", "attempts exhausted"}
