"""Extra response headers by route: what a test asks the simulator to add to its answers.

The real service sends no caching or custom headers, but a client's handling of them
(``Cache-Control`` in the cache stage, say) is best tested over real HTTP.
:class:`ResponseHeaderRules` holds, per route pattern (the syntax of fault routes, see
:func:`~._faults.route_matches`), headers the simulator adds to its *successful*
answers; the server asks it once per answer. Its own module, because the rules are
read and changed from any thread while the server runs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Final

from ._faults import route_matches

__all__ = ["RESERVED_HEADERS", "ResponseHeaderRules"]

RESERVED_HEADERS: Final = frozenset({"content-type", "content-length", "x-request-id"})
"""Headers the simulator always sets itself (lower case); a rule may not name them."""

_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class ResponseHeaderRules:
    """Extra headers for successful answers, by route pattern; safe to use from any thread.

    When several routes match a request their headers are merged, and for a header
    named by more than one of them (names compare case-insensitively) the route set
    most recently wins.
    """

    def __init__(self, rules: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Start with these rules, route pattern to headers, set in their order.

        Raises:
            ValueError: as :meth:`set`.
        """
        self._lock = threading.Lock()
        self._rules: dict[str, dict[str, str]] = {}
        for route, headers in (rules or {}).items():
            self.set(route, headers)

    def set(self, route: str, headers: Mapping[str, str] | None) -> None:
        """Replace the headers of a route pattern; empty or ``None`` removes the rule.

        Args:
            route: ``"*"``, ``"usage/api"``, ``"GET usage/summary"``, ``"usage/*"``...
                compared as written (``"usage/api"`` and ``"GET usage/api"`` are two
                rules).
            headers: header name to value.

        Raises:
            ValueError: a header name is not an HTTP token or is one of
                :data:`RESERVED_HEADERS`, or a value holds a line break.
        """
        checked = dict(headers or {})
        for name, value in checked.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"not a valid header name: {name!r}")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"the simulator sets {name} itself; it cannot be given")
            if "\r" in value or "\n" in value:
                raise ValueError(f"the value of {name} holds a line break")
        with self._lock:
            self._rules.pop(route, None)
            if checked:
                self._rules[route] = checked

    def snapshot(self) -> dict[str, dict[str, str]]:
        """A copy of the rules, route pattern to headers, oldest first."""
        with self._lock:
            return {route: dict(headers) for route, headers in self._rules.items()}

    def for_request(self, method: str, path: str) -> dict[str, str]:
        """The headers to add to a successful answer of ``method path``.

        Args:
            method: the request's method.
            path: the request's path relative to ``/v1/``.
        """
        with self._lock:
            rules = list(self._rules.items())
        merged: dict[str, tuple[str, str]] = {}
        for route, headers in rules:
            if route_matches(route, method, path):
                for name, value in headers.items():
                    merged[name.lower()] = (name, value)
        return dict(merged.values())
