"""Request validation the FastAPI way: every problem collected, answered as one ``422``.

The real service is a FastAPI application, so a bad request is answered ``422`` with a
``detail`` list of ``{"loc", "msg", "type"}`` items, one per problem, in the pydantic v1
wording. :class:`Query` reads query parameters and collects such items;
:func:`path_int` and :func:`body_user_id` check a path parameter and an update's body.
Keeping the wording here gives the handlers one place to stay faithful to the service.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final

from multidict import MultiMapping

from ._answers import HTTPError

__all__ = ["Query", "body_user_id", "error_item", "path_int"]

_DATE_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%f"


def error_item(loc: Iterable[str | int], msg: str, type_: str) -> dict[str, object]:
    """One item of a ``422`` answer's ``detail`` list."""
    return {"loc": list(loc), "msg": msg, "type": type_}


class Query:
    """Reads query parameters the way FastAPI validates them, collecting every error.

    Each reader returns the value, or ``None`` when it is absent or invalid (an invalid
    one adds to :attr:`errors`); :meth:`check` raises the ``422`` once all are read.
    """

    def __init__(self, query: MultiMapping[str]) -> None:
        """Read from these query parameters."""
        self._query = query
        self.errors: list[dict[str, object]] = []

    def text(self, name: str, *, required: bool) -> str | None:
        """A string parameter; a missing required one is an error."""
        value = self._query.get(name)
        if value is None and required:
            self.errors.append(error_item(("query", name), "field required", "value_error.missing"))
        return value

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        """A required parameter that must be one of ``choices`` (an enumeration)."""
        value = self.text(name, required=True)
        if value is not None and value not in choices:
            self.errors.append(
                error_item(
                    ("query", name), "value is not a valid enumeration member", "type_error.enum"
                )
            )
            return None
        return value

    def integer(
        self, name: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """An optional integer parameter, within ``minimum`` and ``maximum`` if given."""
        raw = self._query.get(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            self.errors.append(
                error_item(("query", name), "value is not a valid integer", "type_error.integer")
            )
            return None
        if minimum is not None and value < minimum:
            msg = f"ensure this value is greater than or equal to {minimum}"
            self.errors.append(error_item(("query", name), msg, "value_error.number.not_ge"))
            return None
        if maximum is not None and value > maximum:
            msg = f"ensure this value is less than or equal to {maximum}"
            self.errors.append(error_item(("query", name), msg, "value_error.number.not_le"))
            return None
        return value

    def date(self, name: str) -> datetime | None:
        """An optional naive datetime parameter (``2026-11-20T00:00:00.000000``)."""
        raw = self._query.get(name)
        if raw is None:
            return None
        try:
            return datetime.strptime(raw, _DATE_FORMAT)
        except ValueError:
            self.errors.append(
                error_item(("query", name), "invalid datetime format", "value_error.datetime")
            )
            return None

    def time_range(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The range asked by ``days_before_now`` or by ``from_date`` and ``to_date``."""
        days = self.integer("days_before_now", minimum=0)
        start, end = self.date("from_date"), self.date("to_date")
        if days is not None:
            try:
                return now - timedelta(days=days), now
            except OverflowError:
                msg = "value is out of range"
                self.errors.append(error_item(("query", "days_before_now"), msg, "value_error"))
                return None
        if "days_before_now" in self._query:
            return None  # invalid, already reported
        msg = "either days_before_now or both from_date and to_date are required"
        for name in ("from_date", "to_date"):
            if name not in self._query:
                self.errors.append(error_item(("query", name), msg, "value_error.missing"))
        if start is None or end is None:
            return None
        if start > end:
            msg = "from_date must not be after to_date"
            self.errors.append(error_item(("query", "from_date"), msg, "value_error"))
            return None
        return start, end

    def check(self) -> None:
        """Raise the ``422`` if anything read so far was wrong."""
        if self.errors:
            raise HTTPError(422, self.errors)


def path_int(params: Mapping[str, str], name: str) -> int:
    """An integer path parameter, or a ``422`` naming it."""
    try:
        return int(params[name])
    except ValueError:
        msg = "value is not a valid integer"
        raise HTTPError(422, [error_item(("path", name), msg, "type_error.integer")]) from None


def body_user_id(body: bytes) -> int | None:
    """The ``user_id`` of an update's JSON body; an empty body counts as ``{}``."""
    if not body.strip():
        return None
    try:
        value = json.loads(body)
    except ValueError:
        raise HTTPError(
            422, [error_item(["body"], "invalid JSON", "value_error.jsondecode")]
        ) from None
    if not isinstance(value, dict):
        raise HTTPError(422, [error_item(["body"], "value is not a valid dict", "type_error.dict")])
    user_id = value.get("user_id")
    if user_id is None:
        return None
    if isinstance(user_id, str) and user_id.isascii() and user_id.isdigit():
        return int(user_id)  # pydantic coerces a string of digits, as the real service does
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        msg = "value is not a valid integer"
        raise HTTPError(422, [error_item(("body", "user_id"), msg, "type_error.integer")])
    return user_id
