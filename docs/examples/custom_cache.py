"""A custom cache plugin: a small, bounded time-to-live cache in place of the built-in one.

It keys on what the built-in cache keys on (credential identity, operation, method, URL,
sorted query) so that two credentials never share an entry, stores only what the
operation's spec allows, and hands each caller its own decoded copy of a cached answer.

Two rules keep it correct and small:

- **Invalidation.** An operation whose spec names others in ``cache.invalidates``
  (``update_usage`` names the three usage reads) makes their entries for the calling
  credential stale when it ends, whether it succeeded, failed or was cancelled (a failed
  update may still have reached the server). Each (identity, operation) has a generation
  number that is part of the key; ending an update bumps it, so old entries are never
  found again, and a read that was in flight during the update stores its answer where
  no later call looks.
- **A bound.** At most ``max_entries`` entries are kept; the least recently used go
  first, so the superseded generations age out too.

The plugin builds a new stage, with its own entries, for every client it is given to.
Run it with ``python custom_cache.py``: the host comes from ``GEOBOX_HOST`` and the
credentials from the ``GEOBOX_*`` variables.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict

from geobox_usage import (
    AsyncGeoboxClient,
    Clock,
    Handler,
    PipelineContext,
    PipelineStage,
    Request,
    Response,
    Secret,
    Slot,
    hookimpl,
)

# The query holds an API key given as ``eid`` as a ``Secret``: hashable and comparable,
# so it can stand in a key without ever being revealed.
Key = tuple[str, str, int, str, str, tuple[tuple[str, str | Secret], ...]]


class TtlCacheStage:
    """Serves an idempotent, storable answer again for ``ttl`` seconds."""

    def __init__(self, ttl: float, max_entries: int, clock: Clock) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self.entries: OrderedDict[Key, tuple[float, Response]] = OrderedDict()
        self.generations: dict[tuple[str, str], int] = {}

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        policy = request.spec.cache
        if policy.invalidates:
            try:
                return await call_next(request)
            finally:  # no await here: it runs even when the call is cancelled
                for name in policy.invalidates:
                    generation = (request.identity, name)
                    self.generations[generation] = self.generations.get(generation, 0) + 1
        if not policy.store:
            return await call_next(request)
        key = self._key(request)
        entry = self.entries.get(key)
        if entry is not None and self.clock.monotonic() < entry[0]:
            self.entries.move_to_end(key)
            return entry[1].decoded_copy()._replace(cache="hit")
        response = await call_next(request)
        self.entries[key] = (self.clock.monotonic() + self.ttl, response)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return response._replace(cache="miss")

    def _key(self, request: Request) -> Key:
        generation = self.generations.get((request.identity, request.spec.name), 0)
        query = tuple(sorted(request.params, key=lambda pair: pair[0]))
        return (request.identity, request.spec.name, generation, request.method, request.url, query)


class TtlCachePlugin:
    """Registers a :class:`TtlCacheStage` in the cache slot of each client."""

    plugin_name = "cache"  # replaces the built-in cache plugin

    def __init__(self, ttl: float, max_entries: int = 256) -> None:
        self.ttl = ttl
        self.max_entries = max_entries

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> PipelineStage:
        stage = TtlCacheStage(self.ttl, self.max_entries, context.clock)
        return PipelineStage(name="ttl-cache", slot=Slot.CACHE, stage=stage)


async def main() -> None:
    host = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")
    async with AsyncGeoboxClient(host, plugins=[TtlCachePlugin(ttl=60)]) as client:
        print("summary:", await client.get_usage_summary())  # asks the server
        print("again:", await client.get_usage_summary())  # served from the cache
        await client.update_usage()
        print("after the update:", await client.get_usage_summary())  # asks again


if __name__ == "__main__":
    asyncio.run(main())
