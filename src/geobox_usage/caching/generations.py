"""Invalidation generations: an optional second protocol a cache backend may implement.

The cache stage keys every entry with the *generation* of its operation for the calling
credential; an update bumps the generation, so every older entry is out of reach. By
default generations live in the stage, in memory: an update in one process then leaves
other processes' entries reachable. A backend shared by several processes (Redis, say)
implements :class:`CacheGenerations` too, and the stage keeps generations there, so an
update in one process invalidates the entries of all.

Such a backend pays a round trip for the generation and another for the entry on every
cached read, unless it also implements :class:`CacheGenerationLookup`, which answers
both in one call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from geobox_usage.caching._policy import CacheEntry

__all__ = ["CacheGenerationLookup", "CacheGenerations"]


@runtime_checkable
class CacheGenerations(Protocol):
    """Counters of invalidations, by scope (a credential identity and an operation).

    A scope's generation starts at 0 and only grows. Scopes hold no secret.
    """

    async def generation(self, scope: str) -> int:
        """The current generation of ``scope``."""
        ...

    async def bump(self, scope: str) -> int:
        """Add one to the generation of ``scope``; the new generation."""
        ...


@runtime_checkable
class CacheGenerationLookup(Protocol):
    """A read of a scope's generation and of the entry stored under it, in one call.

    Optional, for a backend that also implements :class:`CacheGenerations`: the cache
    stage then reads a cached answer with one call (one round trip to a shared store)
    instead of two. The stage stores entries under ``f"{key}#{generation}"``.
    """

    async def get_current(self, scope: str, key: str) -> tuple[int, CacheEntry | None]:
        """The current generation of ``scope``, and the entry stored under
        ``f"{key}#{generation}"`` for that generation (``None`` if there is none)."""
        ...
