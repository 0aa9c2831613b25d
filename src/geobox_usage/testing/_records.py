"""The simulator's request log entry: :class:`RecordedRequest`.

Every request a :class:`~._server.SimulatedGeobox` receives is logged as one immutable
:class:`RecordedRequest` (see :attr:`~._server.SimulatedGeobox.requests`), however it
was answered. The record is its own module because tests read it as a value type, apart
from the server that fills it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ._faults import Fault

__all__ = ["RecordedRequest"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the simulator received it.

    Attributes:
        method: the HTTP method.
        path: the path relative to ``/v1/`` (``"usage/api"``); a path outside ``/v1/``
            is kept whole, with its leading slash.
        query: the query parameters as ``(name, value)`` pairs, in order.
        headers: a copy of the request headers (names as sent; see :meth:`header`).
        body: the request body.
        request_id: the ``X-Request-ID`` sent, or the one the simulator generated.
        fault: the fault applied to the request, if any.
        received_at: when it was received, on the simulator's monotonic clock.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    body: bytes
    request_id: str
    fault: Fault | None
    received_at: float

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name, or ``None``."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or ``None``."""
        return next((v for k, v in self.query if k == name), None)
