"""The enumerations of the usage API: the scale of a report and what it measures."""

from __future__ import annotations

from enum import Enum

__all__ = ["UsageParam", "UsageScale"]


class UsageScale(Enum):
    """The size of one bucket of an API usage report (query parameter ``scale``)."""

    Hour = "hour"
    Day = "day"
    Month = "month"


class UsageParam(Enum):
    """What an API usage report measures (query parameter ``param``).

    ``Traffict`` is the official SDK's spelling of ``Traffic``; it is kept as an alias
    so that code written against the official SDK runs unchanged.
    """

    Traffic = "traffic"
    Calls = "calls"
    Traffict = "traffic"
