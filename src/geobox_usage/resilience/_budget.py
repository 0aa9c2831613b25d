"""The retry budget: retries may be at most a share of recent requests, plus a floor.

Like Finagle's ``RetryBudget`` and gRPC's retry throttling: every call deposits one
request, every retry withdraws one. Over a sliding window (10 s by default) retries may
number at most ``ratio * requests + min_per_s * window``. During an outage, when every
call fails, the load the client puts on the server therefore stays within
``(1 + ratio)`` times the calls made (plus the small floor), however many attempts each
call is allowed: an outage never multiplies the load.

The window is a ring of fixed-width buckets, so recording a request costs a few integer
operations, and time is passed in, so the budget is a pure state machine.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

__all__ = ["InMemoryRetryBudgetStore", "RetryBudget", "RetryBudgetStore"]


class RetryBudget:
    """A sliding-window retry budget (in memory, not thread-safe, no I/O).

    Args:
        ratio: retries allowed per request in the window (``RetryConfig.budget_ratio``).
        min_per_s: retries per second always allowed (``RetryConfig.budget_min_per_s``).
        window: the window's length in seconds.
        buckets: how many buckets the window is cut into (its time resolution).
    """

    __slots__ = (
        "_bucket",
        "_requests",
        "_retries",
        "_width",
        "buckets",
        "min_per_s",
        "ratio",
        "window",
    )

    def __init__(
        self, ratio: float, min_per_s: float, *, window: float = 10.0, buckets: int = 50
    ) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio must be from 0 to 1, got {ratio!r}")
        if min_per_s < 0 or not math.isfinite(min_per_s):
            raise ValueError(f"min_per_s must be >= 0, got {min_per_s!r}")
        if window <= 0 or buckets < 1:
            raise ValueError(f"window must be > 0 and buckets >= 1, got {window!r}, {buckets!r}")
        self.ratio = ratio
        self.min_per_s = min_per_s
        self.window = window
        self.buckets = buckets
        self._width = window / buckets
        self._requests = [0] * buckets
        self._retries = [0] * buckets
        self._bucket: int | None = None  # the absolute index of the newest bucket

    def _advance(self, now: float) -> int:
        """Move the window to ``now``, clearing buckets that fell out; the ring slot."""
        index = int(now // self._width)
        last = self._bucket
        if last is None or index - last >= self.buckets:
            self._requests[:] = [0] * self.buckets
            self._retries[:] = [0] * self.buckets
        elif index > last:
            for absolute in range(last + 1, index + 1):
                slot = absolute % self.buckets
                self._requests[slot] = 0
                self._retries[slot] = 0
        else:
            index = last  # the clock is monotonic; never move the window back
        self._bucket = index
        return index % self.buckets

    def record_request(self, now: float) -> None:
        """Count one call (its first attempt) made at ``now``."""
        index = int(now // self._width)
        if index == self._bucket:  # the hot path: same bucket as the last call
            self._requests[index % self.buckets] += 1
            return
        slot = self._advance(now)  # first: it may replace the lists
        self._requests[slot] += 1

    def allowance(self, now: float) -> float:
        """How many retries the window allows at ``now`` (spent ones included)."""
        self._advance(now)
        return self.ratio * sum(self._requests) + self.min_per_s * self.window

    def spent(self, now: float) -> int:
        """How many retries were spent within the window ending at ``now``."""
        self._advance(now)
        return sum(self._retries)

    def try_spend(self, now: float) -> bool:
        """Withdraw one retry at ``now`` if the budget allows it; whether it did."""
        slot = self._advance(now)
        if sum(self._retries) + 1 > self.ratio * sum(self._requests) + self.min_per_s * (
            self.window
        ):
            return False
        self._retries[slot] += 1
        return True

    def __repr__(self) -> str:
        return (
            f"RetryBudget(ratio={self.ratio}, min_per_s={self.min_per_s}, "
            f"window={self.window}, requests={sum(self._requests)}, "
            f"retries={sum(self._retries)})"
        )


@runtime_checkable
class RetryBudgetStore(Protocol):
    """Where the retry stage keeps its budget; a shared store can span processes.

    ``record_request`` runs on every call, so it is synchronous and must not block (a
    shared store buffers deposits and flushes them in the background);
    ``try_spend`` runs only before a retry and may do I/O.
    """

    def record_request(self, now: float) -> None:
        """Count one call made at ``now`` (monotonic seconds)."""
        ...

    async def try_spend(self, now: float) -> bool:
        """Withdraw one retry if the budget allows it; whether it did."""
        ...


class InMemoryRetryBudgetStore:
    """The default :class:`RetryBudgetStore`: one :class:`RetryBudget` per client.

    Args:
        budget: the budget to keep.
    """

    __slots__ = ("budget", "record_request")

    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget
        self.record_request = budget.record_request

    async def try_spend(self, now: float) -> bool:
        """Withdraw one retry from the in-memory budget."""
        return self.budget.try_spend(now)

    def __repr__(self) -> str:
        return f"InMemoryRetryBudgetStore({self.budget!r})"
