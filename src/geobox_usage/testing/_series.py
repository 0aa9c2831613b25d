"""Deterministic usage numbers: every value is a pure function of the simulator's seed.

The simulator serves made-up but stable usage: the value of a bucket depends only on
``(seed, eid, scale, param, bucket start)``, process seconds only on
``(seed, user, range)``, and summary counters only on ``(seed, user, number of updates)``.
Repeated calls, separate simulators with the same seed, and separate runs therefore
agree, so a test can compare two fetches of the same range, or a client's answer with
a raw fetch, and expect equality.

All times here are naive datetimes in UTC. Values of different scales are drawn
independently: a day's value is not the sum of its hours.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "PARAMS",
    "SCALES",
    "Totals",
    "align",
    "bucket_starts",
    "initial_totals",
    "process_seconds",
    "update_increment",
    "usage_value",
    "utc_naive",
]

SCALES = ("hour", "day", "month")
"""The valid values of the ``scale`` query parameter."""

PARAMS = ("traffic", "calls")
"""The valid values of the ``param`` query parameter."""

# Inclusive ranges of a bucket's value, per (param, scale). Traffic is in bytes.
_RANGES: dict[tuple[str, str], tuple[int, int]] = {
    ("calls", "hour"): (0, 400),
    ("calls", "day"): (500, 9_000),
    ("calls", "month"): (20_000, 250_000),
    ("traffic", "hour"): (0, 16_000_000),
    ("traffic", "day"): (1_000_000, 360_000_000),
    ("traffic", "month"): (40_000_000, 10_000_000_000),
}


def utc_naive(moment: datetime) -> datetime:
    """The moment as a naive datetime in UTC; a naive input is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def align(moment: datetime, scale: str) -> datetime:
    """The start of the bucket of ``scale`` that contains ``moment``."""
    moment = utc_naive(moment).replace(minute=0, second=0, microsecond=0)
    if scale == "hour":
        return moment
    moment = moment.replace(hour=0)
    if scale == "day":
        return moment
    if scale == "month":
        return moment.replace(day=1)
    raise ValueError(f"unknown scale {scale!r}")


def _next(start: datetime, scale: str) -> datetime:
    if scale == "hour":
        return start + timedelta(hours=1)
    if scale == "day":
        return start + timedelta(days=1)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def bucket_starts(start: datetime, end: datetime, scale: str) -> Iterator[datetime]:
    """The starts of the buckets that overlap ``[start, end]``, oldest first.

    The iterator is lazy, so a caller that keeps only the first ``limit`` buckets of a
    long range does not pay for the rest.
    """
    bucket = align(start, scale)
    end = utc_naive(end)
    while bucket <= end:
        yield bucket
        try:
            bucket = _next(bucket, scale)
        except (OverflowError, ValueError):  # past datetime.max
            return


def usage_value(seed: int, eid: str, scale: str, param: str, bucket: datetime) -> int:
    """The value of one bucket: calls, or traffic in bytes."""
    low, high = _RANGES[(param, scale)]
    rng = random.Random(f"usage|{seed}|{eid}|{scale}|{param}|{utc_naive(bucket).isoformat()}")
    return rng.randint(low, high)


def process_seconds(seed: int, user_id: int, start: datetime, end: datetime) -> float:
    """Seconds of processing a user spent within ``[start, end]``, to a tenth of a second.

    Roughly proportional to the length of the range; zero for an empty range.
    """
    start, end = utc_naive(start), utc_naive(end)
    hours = max((end - start).total_seconds(), 0.0) / 3600.0
    rng = random.Random(f"process|{seed}|{user_id}|{start.isoformat()}|{end.isoformat()}")
    return round(hours * rng.uniform(0.0, 20.0), 1)


@dataclass(frozen=True, slots=True)
class Totals:
    """A user's usage counters, as the summary reports them (its fields' names)."""

    daily_api_calls: int
    monthly_api_calls: int
    daily_traffic: int
    monthly_traffic: int
    daily_process: int
    monthly_process: int
    used_storage: int

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def as_fields(self) -> dict[str, int]:
        """The counters by their summary field names."""
        return asdict(self)


def initial_totals(seed: int, user_id: int) -> Totals:
    """The counters a user starts with, before any ``usage/update``."""
    rng = random.Random(f"summary|{seed}|{user_id}")
    daily_calls, daily_traffic = rng.randint(0, 500), rng.randint(0, 5_000_000)
    daily_process = rng.randint(0, 30)
    return Totals(
        daily_api_calls=daily_calls,
        monthly_api_calls=daily_calls + rng.randint(100, 5_000),
        daily_traffic=daily_traffic,
        monthly_traffic=daily_traffic + rng.randint(1_000_000, 500_000_000),
        daily_process=daily_process,
        monthly_process=daily_process + rng.randint(0, 300),
        used_storage=rng.randint(1_000_000, 5_000_000_000),
    )


def update_increment(seed: int, user_id: int, number: int) -> Totals:
    """What the ``number``-th update (counting from 1) of a user adds to its counters:
    the calls, traffic and processing it recounts count for the day and the month."""
    rng = random.Random(f"update|{seed}|{user_id}|{number}")
    calls, traffic, process = rng.randint(1, 100), rng.randint(1_000, 5_000_000), rng.randint(0, 3)
    return Totals(calls, calls, traffic, traffic, process, process, rng.randint(0, 1_000_000))
