"""Typed views of the usage answers, for people, charts and type checkers.

The operations return the server's JSON unchanged; these are additions that never
replace it. :class:`UsageSummary` names the summary's fields for a type checker
(``cast(UsageSummary, summary)``), and :func:`usage_points` turns the ``[time, value]``
pairs of an API usage answer into ``(datetime, value)`` pairs.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

__all__ = ["UsageSummary", "usage_points"]


class UsageSummary(TypedDict, total=False):
    """The summary (and the answer of ``update_usage``) as the real service sends it.

    Counters come with their limits; traffic and storage are in bytes. A field may be
    missing or new ones may come: ``total=False``, and nothing is checked at run time.
    """

    available_storage: int
    used_storage: int
    max_daily_api_calls: int
    daily_api_calls: int
    max_monthly_api_calls: int
    monthly_api_calls: int
    max_daily_traffic: int
    daily_traffic: int
    max_monthly_traffic: int
    monthly_traffic: int
    max_daily_process: int
    daily_process: int
    max_monthly_process: int
    monthly_process: int
    remaining_days: int | None


def usage_points(points: object) -> list[tuple[datetime, int | float]]:
    """The ``[time, value]`` pairs of a ``get_api_usage`` answer as ``(datetime, value)``.

    Times are parsed with :meth:`datetime.fromisoformat` (naive times stay naive: the
    service sends UTC without an offset); values are kept as sent.

    Raises:
        ValueError: the answer is not a list of ``[time, value]`` pairs; the message
            names the first item that is not one and why. Nothing is dropped silently.
    """
    if not isinstance(points, list):
        raise ValueError(f"expected a list of [time, value] pairs, got {type(points).__name__}")
    pairs: list[tuple[datetime, int | float]] = []
    for index, point in enumerate(points):
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise ValueError(f"item {index} is not a [time, value] pair: {point!r:.80}")
        when, value = point
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"item {index} has a value that is not a number: {value!r:.80}")
        if not isinstance(when, str):
            raise ValueError(f"item {index} has a time that is not a string: {when!r:.80}")
        try:
            moment = datetime.fromisoformat(when)
        except ValueError:
            raise ValueError(
                f"item {index} has a time that is not ISO 8601: {when!r:.80}"
            ) from None
        pairs.append((moment, value))
    return pairs
