"""The backoff schedule: exponential growth, capped, with full jitter.

"Full jitter" (as in the AWS architecture blog and botocore's standard mode) draws each
wait uniformly between zero and the exponential ceiling, so that many clients failing
at the same moment spread their retries out instead of coming back together. The
random draw is an argument, so the schedule itself is a pure function.
"""

from __future__ import annotations

__all__ = ["backoff_ceiling", "full_jitter"]

# 2**62 times any sane base is far past any cap; stopping there avoids float overflow.
_MAX_EXPONENT = 62


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """The most one may wait after failed attempt number ``attempt`` (1-based).

    ``min(cap, base * 2 ** (attempt - 1))``: ``base`` after the first failure, doubling
    after each further one, never above ``cap``.

    Args:
        attempt: the number of the attempt that just failed, 1 for the first.
        base: the first ceiling, in seconds (``RetryConfig.backoff_base``).
        cap: the largest ceiling, in seconds (``RetryConfig.backoff_max``).

    Raises:
        ValueError: ``attempt`` below 1, or a negative ``base`` or ``cap``.
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if base < 0 or cap < 0:
        raise ValueError(f"base and cap must be >= 0, got {base!r} and {cap!r}")
    return min(cap, base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))


def full_jitter(attempt: int, base: float, cap: float, draw: float) -> float:
    """The wait after failed attempt ``attempt``: ``draw`` times its ceiling.

    Args:
        attempt: the number of the attempt that just failed, 1 for the first.
        base: see :func:`backoff_ceiling`.
        cap: see :func:`backoff_ceiling`.
        draw: a uniform random number in ``[0, 1)`` (``random.random()``).

    Raises:
        ValueError: ``draw`` outside ``[0, 1)``, or as :func:`backoff_ceiling`.
    """
    if not 0.0 <= draw < 1.0:
        raise ValueError(f"draw must be in [0, 1), got {draw!r}")
    return backoff_ceiling(attempt, base, cap) * draw
