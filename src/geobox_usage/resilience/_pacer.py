"""``Pacer``: requests spaced at a rate that may change while callers wait.

A generic cell rate algorithm (GCRA, as in ATM networks and Redis' ``redis-cell``): the
state is one number, the theoretical arrival time of the next request. A request may go
when that time is at most ``burst`` intervals ahead of now; going pushes it one
interval (``1 / rate``) further. Any rate works, one request every ten seconds included.

Waiters hold no reservation while they sleep: each wakes, reads the rate as it is now
and tries again. So when the adaptive rate is cut and later restored, callers that were
waiting follow the restored rate at once, instead of draining a queue at the rate of
the moment they arrived (the fault of building a new limiter per rate change).
"""

from __future__ import annotations

from geobox_usage._clock import Clock

__all__ = ["Pacer"]


class Pacer:
    """Spaces calls to :meth:`acquire` at :attr:`rate` per second.

    Args:
        rate: requests per second; ``None`` lets every request go at once.
        clock: the time source and the sleeper (tests inject a fake one).
        burst: how many requests may go back to back after a quiet spell (at least 1).
    """

    __slots__ = ("_clock", "_tat", "burst", "rate")

    def __init__(self, rate: float | None, clock: Clock, *, burst: float = 1.0) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._tat = 0.0  # the theoretical arrival time of the next request

    def delay(self, now: float) -> float:
        """Seconds until a request may go (0: now). Pure: nothing is taken."""
        rate = self.rate
        if rate is None:
            return 0.0
        allowed_from = self._tat - (self.burst - 1.0) / rate
        return max(0.0, allowed_from - now)

    def try_take(self, now: float) -> bool:
        """Take one request's place if it may go now."""
        rate = self.rate
        if rate is None:
            return True
        if self.delay(now) > 0.0:
            return False
        self._tat = max(self._tat, now) + 1.0 / rate
        return True

    async def acquire(self) -> None:
        """Wait until a request may go, following the rate as it changes, then take it."""
        clock = self._clock
        while not self.try_take(now := clock.monotonic()):
            await clock.sleep(self.delay(now))

    def __repr__(self) -> str:
        return f"Pacer(rate={self.rate!r}, burst={self.burst!r})"
