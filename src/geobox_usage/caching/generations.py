"""Invalidation generations: an optional second protocol a cache backend may implement.

The cache stage keys every entry with the *generation* of its operation for the calling
credential; an update bumps the generation, so every older entry is out of reach. By
default generations live in the stage, in memory: an update in one process then leaves
other processes' entries reachable. A backend shared by several processes (Redis, say)
implements :class:`CacheGenerations` too, and the stage keeps generations there, so an
update in one process invalidates the entries of all.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["CacheGenerations"]


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
