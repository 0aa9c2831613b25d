"""Generations behind the backend: an update in one client invalidates another's entries."""

from __future__ import annotations

from geobox_usage import CacheConfig, InMemoryCacheBackend, hookimpl
from geobox_usage.caching import CacheGenerations
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
