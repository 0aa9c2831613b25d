"""The response cache in Redis: JSON entries with TTLs, and shared generations.

Entries are JSON (the body base64-encoded) under ``<prefix>:{<identity>}:cache:<sha256
of the cache key>#<generation>``, stored with ``SET ... PX`` so that Redis drops them
when their ``stale_until`` passes. Generations (see
:class:`geobox_usage.caching.CacheGenerations`) are counters under
``<prefix>:{<identity>}:gen:<operation>``: an update in any process bumps them, and
every process's older entries are out of reach.

A cached read costs one round trip: :data:`GET_CURRENT` (one Lua script,
:class:`geobox_usage.caching.CacheGenerationLookup`) reads the generation and the entry
keyed by it together, atomically. The generation stays outside the hash in the entry's
key so that the script can build that key itself; both keys carry the identity's hash
tag, so they are in one Redis Cluster slot.

While Redis is lost the backend keeps entries in a local in-memory store (fail open)
and remembers the scopes it bumped; when Redis comes back it bumps them there too, so
an update made during the outage still invalidates the fleet's entries.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from functools import partial
from typing import Any

from geobox_usage.caching import CacheEntry, InMemoryCacheBackend
from redis.asyncio import Redis

from ._link import RedisLink, RedisUnavailable

__all__ = ["GET_CURRENT", "RedisCacheBackend", "decode_entry", "encode_entry"]

GET_CURRENT = """
-- KEYS: 1 the generation's key, 2 the entry's key without its '#<generation>'
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', KEYS[2] .. '#' .. generation)}
"""


def encode_entry(entry: CacheEntry) -> bytes:
    """An entry as JSON (the body base64-encoded)."""
    return json.dumps(
        {
            "status": entry.status,
            "headers": [list(pair) for pair in entry.headers],
            "body": base64.b64encode(entry.body).decode("ascii"),
            "stored_at": entry.stored_at,
            "expires_at": entry.expires_at,
            "stale_until": entry.stale_until,
        },
        separators=(",", ":"),
    ).encode()


def decode_entry(raw: bytes) -> CacheEntry | None:
    """The entry stored as ``raw``, or ``None`` if it is not one (never raises)."""
    try:
        data: Any = json.loads(raw)
        return CacheEntry(
            status=int(data["status"]),
            headers=tuple((str(k), str(v)) for k, v in data["headers"]),
            body=base64.b64decode(data["body"]),
            stored_at=float(data["stored_at"]),
            expires_at=float(data["expires_at"]),
            stale_until=float(data["stale_until"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


class RedisCacheBackend:
    """A cache backend (and :class:`~geobox_usage.caching.CacheGenerations`) in Redis.

    Args:
        link: the client's Redis link.
        local: the in-memory store used while Redis is lost (fail open).
    """

    def __init__(self, link: RedisLink, local: InMemoryCacheBackend) -> None:
        self._link = link
        self._local = local
        self._prefix = link.settings.prefix
        self._missed_bumps: set[str] = set()
        link.on_restore(self._replay_bumps)

    def entry_key(self, key: str) -> str:
        """The Redis key of the cache key ``key`` (its identity kept, the rest hashed,
        and a trailing ``#<generation>`` kept as it is)."""
        base, mark, generation = key.rpartition("#")
        if mark and generation.lstrip("-").isdigit():
            return f"{self._base_key(base)}#{generation}"
        return self._base_key(key)

    def _base_key(self, key: str) -> str:
        identity = key.split(" ", 1)[0]
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{self._prefix}:{{{identity}}}:cache:{digest}"

    def generation_key(self, scope: str) -> str:
        """The Redis key of a generation scope (``"<identity> <operation>"``)."""
        identity, _, operation = scope.partition(" ")
        return f"{self._prefix}:{{{identity}}}:gen:{operation}"

    async def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key`` (Redis drops expired ones itself)."""
        name = self.entry_key(key)
        try:
            raw = await self._link.run(lambda c: c.get(name))
        except RedisUnavailable:
            return await self._local.get(key)
        return decode_entry(raw) if isinstance(raw, bytes) else None

    async def set(self, key: str, entry: CacheEntry, ttl: float) -> None:
        """Store ``entry`` for ``ttl`` seconds."""
        if ttl <= 0:
            await self.delete(key)
            return
        name, value, px = self.entry_key(key), encode_entry(entry), max(1, int(ttl * 1000))
        try:
            await self._link.run(lambda c: c.set(name, value, px=px))
        except RedisUnavailable:
            await self._local.set(key, entry, ttl)

    async def delete(self, key: str) -> None:
        """Forget ``key``."""
        await self._local.delete(key)
        name = self.entry_key(key)
        with contextlib.suppress(RedisUnavailable):
            await self._link.run(lambda c: c.delete(name))

    async def get_current(self, scope: str, key: str) -> tuple[int, CacheEntry | None]:
        """The fleet's generation of ``scope`` and the entry under ``key#<generation>``,
        in one round trip (the local store's while Redis is lost)."""
        keys = (self.generation_key(scope), self._base_key(key))
        try:
            raw = await self._link.run(
                lambda c: self._link.script(GET_CURRENT)(keys=keys, args=(), client=c)
            )
        except RedisUnavailable:
            generation = self._local_generation()
            return generation, await self._local.get(f"{key}#{generation}")
        generation_raw, entry_raw = raw
        entry = decode_entry(entry_raw) if isinstance(entry_raw, bytes) else None
        return int(generation_raw), entry

    async def generation(self, scope: str) -> int:
        """The fleet's generation of ``scope``."""
        name = self.generation_key(scope)
        try:
            raw = await self._link.run(lambda c: c.get(name))
        except RedisUnavailable:
            return self._local_generation()
        return int(raw or 0)

    def _local_generation(self) -> int:
        """The generation while Redis is lost: never one Redis holds, and a new one
        after each bump made during the outage."""
        return -1 - len(self._missed_bumps)

    async def bump(self, scope: str) -> int:
        """Invalidate ``scope`` for the fleet (remembered and replayed if Redis is lost)."""
        name = self.generation_key(scope)
        try:
            return int(await self._link.run(lambda c: c.incr(name)))
        except RedisUnavailable:
            self._missed_bumps.add(scope)
            return -1 - len(self._missed_bumps)

    async def _replay_bumps(self) -> None:
        while self._missed_bumps:
            scope = next(iter(self._missed_bumps))
            await self._link.run(partial(_incr, self.generation_key(scope)))
            self._missed_bumps.discard(scope)

    async def aclose(self) -> None:
        """Close the Redis link."""
        await self._link.aclose()

    def __repr__(self) -> str:
        return f"RedisCacheBackend(prefix={self._prefix!r}, link={self._link!r})"


async def _incr(name: str, client: Redis) -> int:
    return int(await client.incr(name))
