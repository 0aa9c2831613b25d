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

    Bounded twice: by the number of entries and by the bytes they hold (each entry's
    body and headers, plus a fixed allowance for the objects around them), so that a
    thousand large answers cannot fill the process's memory. An entry larger than an
    eighth of ``max_bytes`` is not stored at all: one large answer never flushes the
    rest of the cache.

    Args:
        max_entries: the most entries kept; storing one more evicts the least recently
            used (a ``get`` counts as a use).
        now: the clock entries' ``ttl`` is measured on (``Clock.time``); inject one in
            tests.
        max_bytes: the most bytes all entries together may hold.

    Not thread-safe; safe within one event loop (no method awaits anything).
    """

    #: Bytes counted for each entry besides its body and headers (the entry, the key,
    #: the tuples around them): what keeps many tiny entries from being "free".
    ENTRY_OVERHEAD = 256

    def __init__(
        self,
        max_entries: int = 1024,
        now: Callable[[], float] = time.time,
        *,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        _check_positive_int("max_entries", max_entries)
        _check_positive_int("max_bytes", max_bytes)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._largest = max(1, max_bytes // 8)
        self._now = now
        self._entries: OrderedDict[str, tuple[float, CacheEntry, int]] = OrderedDict()
        self._bytes = 0

    @property
    def bytes(self) -> int:
        """The bytes the stored entries hold, as this store counts them."""
        return self._bytes

    async def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key`` if its ttl has not run out (and mark it recently used)."""
        found = self._entries.get(key)
        if found is None:
            return None
        drop_at, entry, _ = found
        if self._now() >= drop_at:
            self._forget(key)
            return None
        self._entries.move_to_end(key)
        return entry

    async def set(self, key: str, entry: CacheEntry, ttl: float) -> None:
        """Store ``entry`` for ``ttl`` seconds; evict the least recently used past a bound.

        An entry larger than an eighth of ``max_bytes`` is not stored (and one already
        under ``key`` is dropped, as a replaced entry would be).
        """
        self._forget(key)
        size = entry_size(entry) + len(key) + self.ENTRY_OVERHEAD
        if ttl <= 0 or size > self._largest:
            return
        self._entries[key] = (self._now() + ttl, entry, size)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, _, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._forget(key)

    def _forget(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self._bytes -= found[2]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return (
            f"InMemoryCacheBackend({len(self._entries)}/{self.max_entries} entries, "
            f"{self._bytes}/{self.max_bytes} bytes)"
        )


def entry_size(entry: CacheEntry) -> int:
    """The bytes an entry's body and headers hold (what a byte bound counts)."""
    return len(entry.body) + sum(len(name) + len(value) for name, value in entry.headers)


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
