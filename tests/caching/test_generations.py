"""Generations behind the backend: an update in one client invalidates another's entries."""

from __future__ import annotations

from geobox_usage import CacheConfig, InMemoryCacheBackend, hookimpl
from geobox_usage.caching import CacheEntry, CacheGenerationLookup, CacheGenerations
from geobox_usage.testing import SimulatedGeobox
from tests.conftest import ClientFactory


class SharedBackend(InMemoryCacheBackend):
    """An in-memory backend that also keeps generations, as a shared store would."""

    def __init__(self) -> None:
        super().__init__()
        self.generations: dict[str, int] = {}

    async def generation(self, scope: str) -> int:
        return self.generations.get(scope, 0)

    async def bump(self, scope: str) -> int:
        self.generations[scope] = self.generations.get(scope, 0) + 1
        return self.generations[scope]


async def test_an_update_in_one_client_invalidates_the_entries_of_another(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    backend = SharedBackend()
    assert isinstance(backend, CacheGenerations)
    config = CacheConfig(ttl=60.0)
    first = make_client(cache=config, plugins=[_provide(backend)])
    second = make_client(cache=config, plugins=[_provide(backend)])
    async with first, second:
        before = await first.get_usage_summary()
        assert await second.get_usage_summary() == before  # served from the shared entry
        assert sim.count("GET", "usage/summary") == 1
        await first.update_usage()
        await second.get_usage_summary()  # the update in `first` reached `second`
    assert sim.count("GET", "usage/summary") == 2
    assert any(scope.endswith(" get_usage_summary") for scope in backend.generations)


def _provide(backend: SharedBackend) -> object:
    class Provider:
        @hookimpl
        def geobox_usage_cache_backend(self, context: object) -> SharedBackend:
            return backend

    return Provider()


class OneCallBackend(SharedBackend):
    """A shared backend that reads a generation and its entry in one call (and counts)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def get(self, key: str) -> CacheEntry | None:
        self.calls.append("get")
        return await super().get(key)

    async def generation(self, scope: str) -> int:
        self.calls.append("generation")
        return await super().generation(scope)

    async def get_current(self, scope: str, key: str) -> tuple[int, CacheEntry | None]:
        self.calls.append("get_current")
        generation = self.generations.get(scope, 0)
        return generation, await super().get(f"{key}#{generation}")


async def test_a_backend_with_a_generation_lookup_answers_a_cached_read_in_one_call(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    backend = OneCallBackend()
    assert isinstance(backend, CacheGenerationLookup)
    client = make_client(cache=CacheConfig(ttl=60.0), plugins=[_provide(backend)])
    async with client:
        await client.get_usage_summary()  # a miss: looked up, then stored
        assert backend.calls == ["get_current"]
        backend.calls.clear()
        await client.get_usage_summary()  # a hit
        assert backend.calls == ["get_current"]
        await client.update_usage()
        await client.get_usage_summary()  # the bumped generation is looked up
    assert sim.count("GET", "usage/summary") == 2
