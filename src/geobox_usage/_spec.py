"""Operations as data: what a request is, declared once, executed by the pipeline.

A :class:`RequestSpec` says everything the pipeline needs to know about an operation
(method, path, whether it may be repeated, whether its answer may be cached, how its
answer is decoded) so that stages can decide without knowing which operation runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

__all__ = [
    "CachePolicy",
    "DecodeProblem",
    "RequestSpec",
    "decode_json",
    "decode_object",
]

T = TypeVar("T")


class DecodeProblem(ValueError):
    """A body that is not the JSON an operation expects; the pipeline wraps it."""


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Whether and how an operation's answers may be cached.

    Attributes:
        store: answers may be stored and served again (only ever for idempotent specs).
        ttl: seconds an entry stays fresh; ``None`` uses the cache's configured ttl.
        invalidates: names of the operations whose cached entries for the same target
            become stale when this operation succeeds (an update invalidates reads).
    """

    store: bool = False
    ttl: float | None = None
    invalidates: frozenset[str] = frozenset()

    @classmethod
    def no_store(cls, *, invalidates: frozenset[str] = frozenset()) -> CachePolicy:
        """A policy for answers that must never be cached."""
        return cls(store=False, invalidates=invalidates)


@dataclass(frozen=True, slots=True)
class RequestSpec(Generic[T]):
    """The declaration of one API operation.

    Attributes:
        name: the operation's name, as users know it (``"get_usage_summary"``); used in
            logs, errors and cache keys.
        method: the HTTP method.
        path: the path relative to the versioned base URL; may hold ``{name}`` fields
            filled from the call's path arguments (``"users/{user_id}/"``).
        idempotent: whether sending it twice has the same effect as once. Only
            idempotent specs are retried after the request may have reached the server.
        cache: the cache policy.
        decode: turns a successful answer's body into the value the caller gets;
            raises :class:`DecodeProblem` when the body is not what the operation expects.
    """

    name: str
    method: str
    path: str
    idempotent: bool
    decode: Callable[[bytes], T] = field(repr=False)
    cache: CachePolicy = CachePolicy()

    def __post_init__(self) -> None:
        if self.cache.store and not self.idempotent:
            raise ValueError(f"spec {self.name!r}: only idempotent operations may be cached")
        if self.path.startswith("/"):
            raise ValueError(f"spec {self.name!r}: path must be relative, got {self.path!r}")


def _refuse_constant(name: str) -> Any:
    raise DecodeProblem(f"body holds {name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise DecodeProblem(f"body holds a number too large for a float ({text[:20]}...)")
    return value


_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
"""Built once: ``json.loads`` with hooks builds a new decoder on every call."""


def decode_json(body: bytes) -> Any:
    """Decode any JSON value and hand it back as the server sent it.

    Refuses, as :class:`DecodeProblem`, what is not JSON or cannot be read safely:
    invalid UTF-8 or syntax, ``NaN`` and ``Infinity`` (not JSON, though Python's
    parser accepts them), numbers beyond a float or Python's integer digit limit, and
    nesting deeper than the parser's recursion allows. Bodies in UTF-16 or UTF-32 are
    read as :func:`json.loads` reads bytes (a UTF-8 byte order mark is skipped).
    """
    try:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode(json.detect_encoding(body))
        if text.startswith("\ufeff"):
            text = text[1:]  # a UTF-8 byte order mark, which json.loads skips too
        return _DECODER.decode(text)
    except DecodeProblem:
        raise
    except RecursionError:
        raise DecodeProblem("body is JSON nested too deeply to read") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, int digit limit
        raise DecodeProblem(f"body is not valid JSON ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def decode_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON object (for answers the client must read a field of)."""
    value = decode_json(body)
    if not isinstance(value, dict):
        raise DecodeProblem(f"expected a JSON object, got {type(value).__name__}")
    return value
