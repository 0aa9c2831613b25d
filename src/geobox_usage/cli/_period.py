"""The period options of ``api-usage`` and ``process``, and the ``limit`` a period needs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from geobox_usage.enums import UsageScale

__all__ = ["Period", "points_in"]


@dataclass(frozen=True, slots=True)
class Period:
    """Either a number of days back from now, or a start and an end."""

    days: int | None = None
    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def from_options(cls, days: int | None, start: datetime | None, end: datetime | None) -> Period:
        """Check that exactly one form was given; raise ``ValueError`` saying what is allowed."""
        if days is not None and (start is not None or end is not None):
            raise ValueError("give either --days or --from and --to, not both")
        if days is None and (start is None or end is None):
            raise ValueError("give --days N, or both --from DATE and --to DATE")
        if start is not None and end is not None and end < start:
            raise ValueError(
                f"--to ({end:%Y-%m-%d %H:%M}) is before --from ({start:%Y-%m-%d %H:%M})"
            )
        return cls(days, start, end)

    @property
    def span(self) -> timedelta:
        """How long the period is."""
        if self.start is not None and self.end is not None:
            return self.end - self.start
        return timedelta(days=self.days or 0)

    def describe(self) -> str:
        """``"last 14 days"`` or ``"2026-11-01 00:00 to 2026-11-15 00:00"``, for titles."""
        if self.start is not None and self.end is not None:
            return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"
        return f"last {self.days} day{'s' if self.days != 1 else ''}"


def points_in(period: Period, scale: UsageScale) -> int:
    """How many points of ``scale`` a period can hold, so that the server's default
    ``limit`` of 10 never cuts the series short (one more for a partial bucket at each end)."""
    seconds = period.span.total_seconds()
    if scale is UsageScale.Hour:
        return math.ceil(seconds / 3600) + 2
    if scale is UsageScale.Day:
        return math.ceil(seconds / 86400) + 2
    return math.ceil(seconds / (28 * 86400)) + 2
