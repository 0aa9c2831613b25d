"""The caller-supplied request id: a ContextVar the client reads when it starts a call."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["current_request_id", "request_id"]

_REQUEST_ID: ContextVar[str | None] = ContextVar("geobox_usage_request_id", default=None)

# Sent as a header: printable ASCII only, so it cannot split or forge headers.
_VALID = re.compile(r"[\x21-\x7e]{1,200}")


@contextmanager
def request_id(value: str) -> Iterator[str]:
    """Make the calls started inside the block send ``X-Request-ID: value``.

    Every call started in the block (and in tasks created in it) uses ``value`` for
    all of its attempts, its events and its errors, instead of a new UUID; blocks nest,
    the innermost wins. An explicit ``request_id=`` given to
    :meth:`AsyncGeoboxClient.execute` still takes precedence.

    Example::

        with geobox_usage.request_id(incoming.headers["X-Request-ID"]):
            summary = await client.get_usage_summary()

    Args:
        value: 1 to 200 printable ASCII characters, no spaces.

    Raises:
        ValueError: ``value`` is not a valid header value.
    """
    if not isinstance(value, str) or not _VALID.fullmatch(value):
        raise ValueError(
            f"request_id must be 1 to 200 printable ASCII characters without spaces, got {value!r}"
        )
    token = _REQUEST_ID.set(value)
    try:
        yield value
    finally:
        _REQUEST_ID.reset(token)


def current_request_id() -> str | None:
    """The request id set by the innermost :func:`request_id` block, or ``None``."""
    return _REQUEST_ID.get()
