"""Argument checks that run before any request: each names what was wrong and what is allowed."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import TypeVar

__all__ = [
    "DATE_FORMAT",
    "check_date_range",
    "check_enum",
    "check_optional_positive_int",
    "check_positive_int",
    "format_date",
]

#: The wire format of ``from_date`` and ``to_date``.
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"

E = TypeVar("E", bound=Enum)


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` (not a ``bool``) of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (1 or more), got {value!r}")
    return value


def check_id(name: str, value: object) -> int:
    """Return the id ``value`` names: a positive ``int``, or a string of decimal digits
    (``"7"``), as the official SDK accepts; never a ``bool``, a float or ``"07"``."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and value[0] != "0":
        return int(value)
    if isinstance(value, str):
        raise ValueError(
            f"{name} must be a positive integer or a string of its digits, got {value!r}"
        )
    return check_positive_int(name, value)


def check_optional_id(name: str, value: object) -> int | None:
    """Like :func:`check_id`, letting ``None`` through."""
    return None if value is None else check_id(name, value)


def check_optional_positive_int(name: str, value: object) -> int | None:
    """Like :func:`check_positive_int`, letting ``None`` through."""
    return None if value is None else check_positive_int(name, value)


def check_enum(enum_cls: type[E], name: str, value: object) -> E:
    """Return the member of ``enum_cls`` that ``value`` is or whose value it is."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        for member in enum_cls:
            if member.value == value:
                return member
    allowed = ", ".join(
        f"{enum_cls.__name__}.{m.name} ({m.value!r})"
        for m in enum_cls  # aliases skipped
    )
    raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


def check_date(name: str, value: object) -> datetime | None:
    """Return ``value`` if it is a ``datetime`` or ``None``."""
    if value is None or isinstance(value, datetime):
        return value
    raise ValueError(f"{name} must be a datetime.datetime or None, got {value!r}")


def check_date_range(
    from_date: object, to_date: object, days_before_now: object
) -> tuple[datetime | None, datetime | None, int | None]:
    """Check the period arguments of the usage reports.

    Either ``days_before_now``, or both ``from_date`` and ``to_date``, must be given;
    ``from_date`` must not come after ``to_date``.
    """
    start = check_date("from_date", from_date)
    end = check_date("to_date", to_date)
    days = check_optional_positive_int("days_before_now", days_before_now)
    if days is None and (start is None or end is None):
        raise ValueError(
            "one of days_before_now or from_date/to_date parameters must have value "
            "(pass days_before_now=N, or both from_date and to_date)"
        )
    if (start is None) != (end is None):
        given, missing = ("from_date", "to_date") if start is not None else ("to_date", "from_date")
        raise ValueError(f"{given} was given without {missing}: pass both or neither")
    if start is not None and end is not None:
        if (start.tzinfo is None) != (end.tzinfo is None):
            raise ValueError(
                "from_date and to_date must both be naive or both timezone-aware datetimes"
            )
        if start > end:
            raise ValueError(
                f"from_date ({start.isoformat()}) is after to_date ({end.isoformat()})"
            )
    return start, end, days


def format_date(value: datetime) -> str:
    """The wire form of a date: aware datetimes converted to UTC first, naive ones as-is."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(DATE_FORMAT)
