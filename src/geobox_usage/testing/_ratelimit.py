"""The simulator's optional server-side rate limit: one fixed window over all requests.

When a :class:`~._server.SimulatedGeobox` is given ``rate_limit=(limit, window)``, every
request (the token route included) is counted in one :class:`RateWindow`; the answer
carries ``X-RateLimit-*`` headers and, once over the limit, is a ``429`` with
``Retry-After``. It is its own module so the counting rule is stated in one place.
"""

from __future__ import annotations

__all__ = ["RateWindow"]


class RateWindow:
    """A fixed-window rate limit over all requests.

    Not thread-safe by itself: the server calls :meth:`hit` under its lock.
    """

    def __init__(self, limit: int, window: float) -> None:
        """Allow ``limit`` requests per ``window`` seconds.

        Raises:
            ValueError: ``limit`` is below 1 or ``window`` is not positive.
        """
        if limit < 1 or window <= 0:
            raise ValueError(f"rate_limit needs limit >= 1 and window > 0, got {(limit, window)}")
        self.limit = limit
        self.window = window
        self._start: float | None = None
        self._count = 0

    def hit(self, now: float) -> tuple[bool, dict[str, str]]:
        """Count one request; whether it is allowed, and the headers to send."""
        if self._start is None or now - self._start >= self.window:
            self._start, self._count = now, 0
        self._count += 1
        reset = _seconds(self._start + self.window - now)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - self._count, 0)),
            "X-RateLimit-Reset": reset,
        }
        allowed = self._count <= self.limit
        if not allowed:
            headers["Retry-After"] = reset
        return allowed, headers


def _seconds(value: float) -> str:
    """Seconds as a short decimal string, to the millisecond."""
    return f"{max(value, 0.0):.3f}".rstrip("0").rstrip(".")
