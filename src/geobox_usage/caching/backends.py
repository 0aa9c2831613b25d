"""Where cached answers live: a three-method async protocol and the in-memory store.

Any object with ``get``, ``set`` and ``delete`` coroutines is a backend; a plugin
supplies its own through the ``geobox_usage_cache_backend`` hook (or an application
through the ``geobox_usage_cache_backend`` hook). The store only keeps entries; every
decision about them (fresh, stale, storable) is the cache stage's, made with
:mod:`geobox_usage.caching._policy`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from geobox_usage.caching._policy import CacheEntry

__all__ = ["CacheBackend", "InMemoryCacheBackend"]


@runtime_checkable
class CacheBackend(Protocol):
    """A store of :class:`CacheEntry` values by string key.

    Keys hold no secret (see :func:`geobox_usage.caching._policy.cache_key`). A backend
    may forget an entry at any time (eviction); it must not return an entry after its
    ``ttl`` ran out.
    """

    async def get(self, key: str) -> CacheEntry | None:
        """The entry stored under ``key``, or ``None``."""
        ...

    async def set(self, key: str, entry: CacheEntry, ttl: float) -> None:
        """Store ``entry`` under ``key`` for at most ``ttl`` seconds (replacing any)."""
        ...

    async def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens if it is absent)."""
        ...


class InMemoryCacheBackend:
    """A bounded, process-local store: least recently used entries go first.

    Args:
        max_entries: the most entries kept; storing one more evicts the least recently
            used (a ``get`` counts as a use).
        now: the clock entries' ``ttl`` is measured on (``Clock.time``); inject one in
            tests.

    Not thread-safe; safe within one event loop (no method awaits anything).
    """

    def __init__(self, max_entries: int = 1024, now: Callable[[], float] = time.time) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be an integer >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._now = now
        self._entries: OrderedDict[str, tuple[float, CacheEntry]] = OrderedDict()

    async def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key`` if its ttl has not run out (and mark it recently used)."""
        found = self._entries.get(key)
        if found is None:
            return None
        drop_at, entry = found
        if self._now() >= drop_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    async def set(self, key: str, entry: CacheEntry, ttl: float) -> None:
        """Store ``entry`` for ``ttl`` seconds; evict the least recently used past the bound."""
        if ttl <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (self._now() + ttl, entry)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return f"InMemoryCacheBackend({len(self._entries)}/{self.max_entries} entries)"
