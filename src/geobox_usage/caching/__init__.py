"""The response cache's parts: pure freshness rules, the storage protocol, single flight.

Kept apart from the cache stage (:mod:`geobox_usage.stages.cache`) the way hishel keeps
RFC 9111's rules apart from its storages: :mod:`._policy` decides (is it storable, is it
fresh, may it be served stale) from values and an injected "now", :mod:`.backends`
stores, and :mod:`._singleflight` makes concurrent identical calls share one request.
"""

from geobox_usage.caching._policy import CacheControl, CacheEntry
from geobox_usage.caching.backends import CacheBackend, InMemoryCacheBackend
from geobox_usage.caching.generations import CacheGenerationLookup, CacheGenerations

__all__ = [
    "CacheBackend",
    "CacheControl",
    "CacheEntry",
    "CacheGenerationLookup",
    "CacheGenerations",
    "InMemoryCacheBackend",
]
