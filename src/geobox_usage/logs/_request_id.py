"""Request ids: the caller's (a ContextVar), the host's (a structlog binding), or new.

The id a call sends as ``X-Request-ID`` is, first found: ``execute(request_id=...)``,
the innermost :func:`request_id` block, the host application's own id bound in
structlog's contextvars under a configurable key (``request_id`` by default), or a
new UUID. Events log it under :data:`LOG_FIELD` (``geobox_request_id``), never under
``request_id``: a host that binds ``request_id`` keeps it in every event.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

import structlog.contextvars
from structlog.contextvars import get_contextvars

__all__ = ["LOG_FIELD", "current_request_id", "host_request_id", "new_request_id", "request_id"]

LOG_FIELD = "geobox_request_id"
"""The field the library's events carry the call's request id in."""

_REQUEST_ID: ContextVar[str | None] = ContextVar("geobox_usage_request_id", default=None)

# Sent as a header: printable ASCII only, so it cannot split or forge headers.
_VALID = re.compile(r"[\x21-\x7e]{1,200}")

# A request id is a version 4 UUID's 32 hex digits: 60 random bits drawn once per
# process (the first half, with the version nibble) and a 62-bit counter (the second
# half, with the RFC 4122 variant bits), so that ids are unique across processes and
# never repeat within one, at the cost of a counter step per call rather than 16 bytes
# from the operating system's generator.
_VARIANT = 0x8000_0000_0000_0000
_COUNTER_MASK = (1 << 62) - 1


def _draw() -> tuple[str, Iterator[int]]:
    prefix = f"{(int.from_bytes(os.urandom(8), 'big') & ~0xF000) | 0x4000:016x}"
    return prefix, itertools.count(int.from_bytes(os.urandom(8), "big") & _COUNTER_MASK)


def _redraw_after_fork() -> None:
    """A forked worker draws its own random part: it must not repeat its parent's ids."""
    global _PREFIX, _counter
    _PREFIX, _counter = _draw()


_PREFIX, _counter = _draw()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_redraw_after_fork)

# structlog keeps each key bound with ``bind_contextvars`` in a ContextVar of its own,
# named ``structlog_<key>``, in this registry: reading the one var is far cheaper than
# ``get_contextvars()``, which copies the whole context. If a structlog release moves
# the registry, the public function is used instead.
_STRUCTLOG_VARS: dict[str, ContextVar[Any]] | None = getattr(
    structlog.contextvars, "_CONTEXT_VARS", None
)
_STRUCTLOG_PREFIX: str = getattr(structlog.contextvars, "STRUCTLOG_KEY_PREFIX", "structlog_")


def new_request_id() -> str:
    """A new request id: the 32 hex digits of a version 4 UUID (as ``uuid4().hex``).

    Unique within the process (a counter) and across processes (a random part drawn
    when the process first imports this module); not meant to be unguessable: it
    correlates logs, it authorises nothing.
    """
    return f"{_PREFIX}{(next(_counter) & _COUNTER_MASK) | _VARIANT:016x}"


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


def host_request_id(key: str | None) -> str | None:
    """The host's own request id, bound with ``structlog.contextvars`` under ``key``.

    Returns ``None`` when ``key`` is ``None``, when nothing is bound under it, or when
    the bound value (a ``str`` or a ``UUID``) is not a safe header value (1 to 200
    printable ASCII characters, no spaces): an unsafe id is never sent.
    """
    if key is None:
        return None
    value: Any
    if _STRUCTLOG_VARS is not None:
        var = _STRUCTLOG_VARS.get(_STRUCTLOG_PREFIX + key)
        if var is None:
            return None  # never bound in this process
        value = var.get()  # ``...`` when unbound: not a str, so ignored below
    else:  # pragma: no cover - a structlog without the registry
        value = get_contextvars().get(key)
    if isinstance(value, UUID):
        value = value.hex
    if isinstance(value, str) and _VALID.fullmatch(value):
        return value
    return None
