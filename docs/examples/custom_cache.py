"""A custom cache plugin: a small time-to-live cache that replaces the built-in one.

It keys on what the built-in cache keys on (credential identity, method, URL, sorted
query) so that two credentials never share an entry, stores only what the operation's
spec allows, and hands each caller its own decoded copy of a cached answer. The plugin
builds a new stage, with its own entries, for every client it is given to.
"""

from __future__ import annotations

from dataclasses import replace

from geobox_usage import (
    Clock,
    Handler,
    PipelineContext,
    PipelineStage,
    Request,
    Response,
    Slot,
    hookimpl,
)

Key = tuple[str, str, str, tuple[tuple[str, str], ...]]


class TtlCacheStage:
    """Serves an idempotent, storable answer again for ``ttl`` seconds."""

    def __init__(self, ttl: float, clock: Clock) -> None:
        self.ttl = ttl
        self.clock = clock
        self.entries: dict[Key, tuple[float, Response]] = {}

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        if not request.spec.cache.store:
            return await call_next(request)
        key: Key = (request.identity, request.method, request.url, tuple(sorted(request.params)))
        entry = self.entries.get(key)
        if entry is not None and self.clock.monotonic() < entry[0]:
            return replace(entry[1].decoded_copy(), cache="hit")
        response = await call_next(request)
        self.entries[key] = (self.clock.monotonic() + self.ttl, response)
        return replace(response, cache="miss")


class TtlCachePlugin:
    """Registers a :class:`TtlCacheStage` in the cache slot of each client."""

    plugin_name = "cache"  # replaces the built-in cache plugin

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> PipelineStage:
        stage = TtlCacheStage(self.ttl, context.clock)
        return PipelineStage(name="ttl-cache", slot=Slot.CACHE, stage=stage)
