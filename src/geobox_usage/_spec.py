"""Operations as data: what a request is, declared once, executed by the pipeline.

A :class:`RequestSpec` says everything the pipeline needs to know about an operation
(method, path, whether it may be repeated, whether its answer may be cached, how its
answer is decoded) so that stages can decide without knowing which operation runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "CachePolicy",
    "DecodeProblem",
    "RequestSpec",
    "decode_number",
    "decode_object",
    "decode_object_list",
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


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeProblem(f"body is not valid JSON ({exc})") from None


def decode_object(body: bytes) -> dict[str, Any]:
    """Decode a JSON object."""
    value = _load(body)
    if not isinstance(value, dict):
        raise DecodeProblem(f"expected a JSON object, got {type(value).__name__}")
    return value


def decode_object_list(body: bytes) -> list[dict[str, Any]]:
    """Decode a JSON array whose items are all objects."""
    value = _load(body)
    if not isinstance(value, list):
        raise DecodeProblem(f"expected a JSON array, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise DecodeProblem(f"expected objects in the array, item {index} is {item!r}")
    return value


def decode_number(body: bytes) -> float:
    """Decode a JSON number (not a boolean) as a float."""
    value = _load(body)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeProblem(f"expected a JSON number, got {value!r}")
    return float(value)
