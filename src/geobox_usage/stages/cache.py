"""The cache stage: single flight for every idempotent call, and an optional response cache.

It sits just inside the logging stage, outside retry, so a cached or shared answer
costs no attempt, no rate-limit slot and no breaker accounting.

* **Single flight** (always on, even with ``cache=None``): concurrent identical
  idempotent calls make one request; every other caller gets its own decoded copy of
  the answer (``Response.cache == "coalesced"``), so mutating one result never changes
  another. See :mod:`geobox_usage.caching._singleflight` for how cancellation is handled.
* **Cache** (``cache=CacheConfig(...)``): answers of idempotent operations whose
  :class:`~geobox_usage.CachePolicy` allows it are stored in a :class:`CacheBackend`
  (in memory, LRU-bounded by entries and bytes, by default) and served while fresh
  (``"hit"``); a miss is ``"miss"``. With ``stale_if_error`` an expired entry stands
  in for a server failure (``"stale"``).
* **Keys**: credential identity, method, absolute URL (base URL and path), sorted query
  without ``apikey``, and the generation of the operation for that identity (below).
* **Invalidation**: a call whose spec lists operations in ``CachePolicy.invalidates``
  (``update_usage``) bumps, once it has finished (successfully or not: a failed update
  may still have reached the server), the generation of each of those operations for
  the calling identity. Every entry and every flight of those operations for that
  identity is then out of reach, whatever user it concerns: ``"me"`` and a numeric id
  can name the same user, so invalidating all of the identity's entries of those
  operations is the rule that is never wrong. A read that was in flight during the
  update stores its answer under the old generation, where no one will look.
  Generations live in the stage, unless the backend also implements
  :class:`~geobox_usage.caching.CacheGenerations`: then they live in the backend, and
  an update in one process invalidates the entries every process sharing the backend
  stored. A backend that also implements
  :class:`~geobox_usage.caching.CacheGenerationLookup` answers the generation and the
  entry in one call, so a cached read costs one round trip to it.

Non-idempotent calls are never coalesced nor cached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from geobox_usage._clock import Clock
from geobox_usage._memo import remember
from geobox_usage._messages import Request, Response
from geobox_usage._redact import Pairs
from geobox_usage.caching._policy import (
    CacheEntry,
    Lookup,
    cache_key,
    classify,
    is_server_failure,
    make_entry,
)
from geobox_usage.caching._singleflight import SingleFlight
from geobox_usage.caching.backends import CacheBackend, InMemoryCacheBackend
from geobox_usage.caching.generations import CacheGenerationLookup, CacheGenerations
from geobox_usage.config import CacheConfig
from geobox_usage.hookspecs import hookimpl
from geobox_usage.pipeline import Handler, PipelineContext, PipelineStage, Slot

__all__ = ["CacheStage", "geobox_usage_stage", "make_cache_stage"]

_new = tuple.__new__

_MEMO_SIZE = 1024
"""Cache keys and header views kept for reuse, at most (each memo is cleared when full)."""


class CacheStage:
    """Single flight and (optionally) a response cache; see the module docstring.

    Args:
        config: the cache settings, or ``None`` to store nothing (single flight only).
        backend: where entries live; ignored when ``config`` is ``None``; defaults to
            an :class:`InMemoryCacheBackend` of ``config.max_entries`` entries and
            ``config.max_bytes`` bytes.
        clock: ``clock.time()`` timestamps entries.
    """

    __slots__ = (
        "_backend",
        "_clock",
        "_config",
        "_flights",
        "_generations",
        "_keys",
        "_lookup",
        "_shared_generations",
        "_views",
    )

    def __init__(
        self,
        config: CacheConfig | None,
        clock: Clock,
        backend: CacheBackend | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._backend: CacheBackend | None = None
        if config is not None:
            self._backend = (
                backend
                if backend is not None
                else InMemoryCacheBackend(
                    config.max_entries, now=clock.time, max_bytes=config.max_bytes
                )
            )
        self._flights: SingleFlight[Response] = SingleFlight()
        self._keys: dict[tuple[str, str, str, Pairs], str] = {}
        self._views: dict[Pairs, CIMultiDictProxy[str]] = {}
        self._generations: dict[tuple[str, str], int] = {}
        self._shared_generations: CacheGenerations | None = (
            self._backend if isinstance(self._backend, CacheGenerations) else None
        )
        # The generation and the entry in one call, when the shared backend can.
        self._lookup: CacheGenerationLookup | None = (
            self._backend
            if self._shared_generations is not None
            and isinstance(self._backend, CacheGenerationLookup)
            else None
        )

    @property
    def backend(self) -> CacheBackend | None:
        """The store in use, or ``None`` when caching is off."""
        return self._backend

    @property
    def in_flight(self) -> int:
        """How many distinct calls are in flight (each shared by one or more callers)."""
        return len(self._flights)

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        spec = request.spec
        if not spec.idempotent:
            if not spec.cache.invalidates:
                return await call_next(request)
            try:
                return await call_next(request)
            finally:
                self.invalidate(request.identity, spec.cache.invalidates)
                shared = self._shared_generations
                if shared is not None:
                    for operation in spec.cache.invalidates:
                        await shared.bump(f"{request.identity} {operation}")
        lookup = self._lookup
        if lookup is not None and spec.cache.store:
            return await self._looked_up(lookup, request, call_next)
        shared = self._shared_generations
        if shared is not None and spec.cache.store:
            generation = await shared.generation(f"{request.identity} {spec.name}")
        else:
            generation = self._generations.get((request.identity, spec.name), 0)
        backend = self._backend
        if backend is None or not spec.cache.store:
            # Single flight only: a tuple is key enough (secrets in it are ``Secret``
            # values, hashable and never shown), and costs no encoding per call.
            call_key = (request.identity, spec.method, request.url, request.params, generation)
            flights = self._flights
            flight = flights.lead(call_key)
            if flight is None:  # another caller's execution is in flight: share it
                response, led = await flights.run(call_key, partial(call_next, request))
                if led:
                    return response
                return response.decoded_copy()._replace(cache="coalesced")
            try:  # the usual call, which no one shares: led in this frame
                response = await call_next(request)
            except BaseException as exc:
                flights.failed(call_key, flight, exc)
                raise
            flights.succeeded(call_key, flight, response)
            return response
        key = self._key_of(request)
        return await self._cached(backend, f"{key}#{generation}", request, call_next)

    def _key_of(self, request: Request) -> str:
        """The cache key of ``request``, encoded once per distinct call and kept."""
        memo = (request.identity, request.spec.method, request.url, request.params)
        key = self._keys.get(memo)
        if key is None:
            key = cache_key(
                identity=request.identity,
                method=request.spec.method,
                url=request.url,
                params=request.params,
            )
            remember(self._keys, memo, key, _MEMO_SIZE)
        return key

    def _from_entry(self, entry: CacheEntry, request: Request, label: str) -> Response:
        """A response for ``request`` rebuilt from a stored entry, its data decoded afresh
        (the headers' immutable view is shared by the entry's hits)."""
        headers = self._views.get(entry.headers)
        if headers is None:
            headers = remember(
                self._views, entry.headers, CIMultiDictProxy(CIMultiDict(entry.headers)), _MEMO_SIZE
            )
        data = request.spec.decode(entry.body)
        # Every field given, as ``Response._make`` does: no ``__new__`` frame per hit.
        return _new(Response, (request, entry.status, headers, entry.body, data, 0, label, 0.0))

    def invalidate(self, identity: str, operations: frozenset[str]) -> None:
        """Make every entry and flight of ``operations`` for ``identity`` unreachable."""
        for operation in operations:
            slot = (identity, operation)
            self._generations[slot] = self._generations.get(slot, 0) + 1

    async def _looked_up(
        self, lookup: CacheGenerationLookup, request: Request, call_next: Handler
    ) -> Response:
        """A stored-cache call whose generation and entry the backend reads in one call."""
        backend = self._backend
        assert backend is not None
        key = self._key_of(request)
        generation, entry = await lookup.get_current(f"{request.identity} {request.spec.name}", key)
        return await self._serve(backend, f"{key}#{generation}", entry, request, call_next)

    async def _cached(
        self, backend: CacheBackend, key: str, request: Request, call_next: Handler
    ) -> Response:
        return await self._serve(backend, key, await backend.get(key), request, call_next)

    async def _serve(
        self,
        backend: CacheBackend,
        key: str,
        entry: CacheEntry | None,
        request: Request,
        call_next: Handler,
    ) -> Response:
        """Serve ``entry`` (found under ``key``) if fresh; else call, and store the answer."""
        config = self._config
        assert config is not None
        if entry is not None and classify(entry, self._clock.time()) is Lookup.FRESH:
            return self._from_entry(entry, request, "hit")
        try:
            response, led = await self._flights.run(key, partial(call_next, request))
        except Exception as exc:
            if (
                entry is not None
                and is_server_failure(exc)
                and classify(entry, self._clock.time()) is Lookup.STALE
            ):
                return self._from_entry(entry, request, "stale")
            raise
        if not led:
            return response.decoded_copy()._replace(cache="coalesced")
        fresh = make_entry(
            status=response.status,
            headers=tuple(response.headers.items()),
            body=response.body,
            spec_ttl=request.spec.cache.ttl,
            default_ttl=config.ttl,
            stale_if_error=config.stale_if_error,
            now=self._clock.time(),
        )
        if fresh is not None:
            await backend.set(key, fresh, fresh.stale_until - fresh.stored_at)
        elif entry is not None:
            await backend.delete(key)  # the server now forbids keeping it
        return response._replace(cache="miss")

    async def aclose(self) -> None:
        """Close the backend if it has an ``aclose`` coroutine."""
        close: Callable[[], Awaitable[Any]] | None = getattr(self._backend, "aclose", None)
        if close is not None:
            await close()

    def __repr__(self) -> str:
        return f"CacheStage(config={self._config!r}, backend={self._backend!r})"


def make_cache_stage(context: PipelineContext, backend: CacheBackend | None = None) -> CacheStage:
    """Build the cache stage for a client (a replacement ``cache`` plugin may call this).

    Args:
        context: the client's pipeline context (its ``cache`` settings and clock).
        backend: the store; by default the answer of the ``geobox_usage_cache_backend``
            hook, else an in-memory store.
    """
    chosen = backend
    if chosen is None and context.cache is not None:
        chosen = context.hook.geobox_usage_cache_backend(context=context)
    if chosen is not None and not isinstance(chosen, CacheBackend):
        raise ValueError(
            f"a cache backend must have async get, set and delete methods, got {chosen!r}"
        )
    return CacheStage(context.cache, context.clock, chosen)


@hookimpl
def geobox_usage_stage(context: PipelineContext) -> PipelineStage:
    """The built-in cache stage (single flight always; storage when ``cache=`` is set)."""
    stage = make_cache_stage(context)
    return PipelineStage(name="cache", slot=Slot.CACHE, stage=stage, aclose=stage.aclose)
