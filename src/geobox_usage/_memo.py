"""Bounded memos: values worked out once per key and kept for the next call.

The hot path remembers a few things per distinct input (a URL's parsed form and path,
a parameter name's encoding, a call's cache key, an entry's header view). Inputs can be
endless (ids in paths, distinct queries), so each memo is emptied when it reaches its
bound: a miss costs the work again, never unbounded memory.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["remember"]

K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, limit: int) -> V:
    """Keep ``value`` under ``key`` in ``memo`` (emptied first when it holds ``limit``
    entries) and return it."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value
