"""Keep the built-in cache stage, but choose where its entries live.

``SerializingBackend`` implements the three-method ``CacheBackend`` protocol the way a
networked store (Redis, memcached) would: each entry is turned into bytes on the way in
and back into a ``CacheEntry`` on the way out, and expires after its ``ttl``. It is
bounded, so it never grows past ``max_entries``. ``SharedCache`` is the plugin that
hands it to every client it is given to, through the ``geobox_usage_cache_backend``
hook: two clients with the same credential and server then share entries.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections import OrderedDict

from geobox_usage import (
    AsyncGeoboxClient,
    CacheBackend,
    CacheConfig,
    CacheEntry,
    PipelineContext,
    hookimpl,
)

# The API host; the docs' tests point it at the simulated server. Credentials come from
# GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY or GEOBOX_USERNAME and GEOBOX_PASSWORD.
HOST = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")


def dump_entry(entry: CacheEntry) -> bytes:
    """An entry as bytes, the form a networked store keeps."""
    return json.dumps(
        {
            "status": entry.status,
            "headers": [list(pair) for pair in entry.headers],
            "body": base64.b64encode(entry.body).decode("ascii"),
            "stored_at": entry.stored_at,
            "expires_at": entry.expires_at,
            "stale_until": entry.stale_until,
        }
    ).encode()


def load_entry(raw: bytes) -> CacheEntry:
    """The entry :func:`dump_entry` turned into ``raw``."""
    data = json.loads(raw)
    return CacheEntry(
        status=data["status"],
        headers=tuple((name, value) for name, value in data["headers"]),
        body=base64.b64decode(data["body"]),
        stored_at=data["stored_at"],
        expires_at=data["expires_at"],
        stale_until=data["stale_until"],
    )


class SerializingBackend:
    """A bounded store of serialised entries; the least recently used go first."""

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> CacheEntry | None:
        found = self._entries.get(key)
        if found is None:
            return None
        drop_at, raw = found
        if time.time() >= drop_at:  # never return an entry after its ttl
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return load_entry(raw)

    async def set(self, key: str, entry: CacheEntry, ttl: float) -> None:
        self._entries[key] = (time.time() + ttl, dump_entry(entry))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)


class SharedCache:
    """Gives every client the same store (asked once per client, when it is built)."""

    def __init__(self, backend: CacheBackend) -> None:
        self.backend = backend

    @hookimpl
    def geobox_usage_cache_backend(self, context: PipelineContext) -> CacheBackend:
        return self.backend


async def main() -> None:
    shared = SharedCache(SerializingBackend(max_entries=512))
    async with (
        AsyncGeoboxClient(HOST, cache=CacheConfig(ttl=30.0), plugins=[shared]) as first,
        AsyncGeoboxClient(HOST, cache=CacheConfig(ttl=30.0), plugins=[shared]) as second,
    ):
        print(await first.get_usage_summary())  # asks the server and stores the answer
        print(await second.get_usage_summary())  # served from the shared store


if __name__ == "__main__":
    asyncio.run(main())
