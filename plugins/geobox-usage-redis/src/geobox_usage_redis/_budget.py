"""The retry budget in Redis: the fleet's retries bounded by the fleet's requests.

Requests and retries are counted in one hash of one-second buckets (``q:<second>`` and
``r:<second>``, on the Redis clock). ``record_request`` runs on every call and must not
block: it counts locally, and the count is flushed at most once a second by a short
task, or with the next ``try_spend``. :data:`SPEND` adds the pending requests, sums the
window and withdraws one retry if ``retries + 1 <= ratio * requests + min_per_s *
window``, atomically.
"""

from __future__ import annotations

import asyncio

from geobox_usage.resilience import InMemoryRetryBudgetStore

from ._link import RedisLink, RedisUnavailable

__all__ = ["RedisRetryBudgetStore"]

SPEND = """
-- ARGV: 1 pending requests, 2 spend ('1'/'0'), 3 ratio, 4 min per s, 5 window (whole s)
local t = redis.call('TIME')
local now = tonumber(t[1])
local window = tonumber(ARGV[5])
local pending = tonumber(ARGV[1])
if pending > 0 then redis.call('HINCRBY', KEYS[1], 'q:' .. now, pending) end
redis.call('PEXPIRE', KEYS[1], (window + 5) * 1000)
for old = now - window - 5, now - window do
  redis.call('HDEL', KEYS[1], 'q:' .. old, 'r:' .. old)
end
if ARGV[2] ~= '1' then return 1 end
local requests, retries = 0, 0
for sec = now - window + 1, now do
  local got = redis.call('HMGET', KEYS[1], 'q:' .. sec, 'r:' .. sec)
  requests = requests + (tonumber(got[1]) or 0)
  retries = retries + (tonumber(got[2]) or 0)
end
if retries + 1 > tonumber(ARGV[3]) * requests + tonumber(ARGV[4]) * window then return 0 end
redis.call('HINCRBY', KEYS[1], 'r:' .. now, 1)
return 1
"""

_WINDOW_S = 10


class RedisRetryBudgetStore:
    """A :class:`~geobox_usage.resilience.RetryBudgetStore` shared through Redis.

    Args:
        link: the client's Redis link.
        identity: the credential's non-secret identity; the key is namespaced by it.
        ratio: retries allowed per request in the window.
        min_per_s: retries per second always allowed (for the whole fleet).
        local: the in-memory budget, kept up to date and used while Redis is lost.
    """

    def __init__(
        self,
        link: RedisLink,
        identity: str,
        ratio: float,
        min_per_s: float,
        local: InMemoryRetryBudgetStore,
    ) -> None:
        self._link = link
        self._ratio = ratio
        self._min_per_s = min_per_s
        self._local = local
        self.key = f"{link.settings.prefix}:{{{identity}}}:retry-budget"
        self._pending = 0
        self._flushed_at = 0.0
        self._flusher: asyncio.Task[None] | None = None
        self._spend = link.script(SPEND)

    def record_request(self, now: float) -> None:
        """Count one call, locally; flush to Redis at most once a second."""
        self._local.record_request(now)
        self._pending += 1
        if now - self._flushed_at >= 1.0 and self._flusher is None:
            self._flushed_at = now
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            await self._run(spend=False)
        except RedisUnavailable:
            pass
        finally:
            self._flusher = None

    async def _run(self, *, spend: bool) -> bool:
        pending, self._pending = self._pending, 0
        args = (pending, "1" if spend else "0", self._ratio, self._min_per_s, _WINDOW_S)
        try:
            reply = await self._link.run(
                lambda c: self._spend(keys=(self.key,), args=args, client=c)
            )
        except RedisUnavailable:
            self._pending += pending
            raise
        return bool(int(reply))

    async def try_spend(self, now: float) -> bool:
        """Withdraw one retry from the fleet's budget (the local one while Redis is lost)."""
        try:
            allowed = await self._run(spend=True)
        except RedisUnavailable:
            if self._link.settings.fail_closed:
                return False  # no retry without the shared budget
            return await self._local.try_spend(now)
        if allowed:
            self._local.budget.try_spend(now)  # keep the local view close
        return allowed

    async def aclose(self) -> None:
        """Wait for a flush in progress, then close the Redis link."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self._link.aclose()

    def __repr__(self) -> str:
        return f"RedisRetryBudgetStore(key={self.key!r}, link={self._link!r})"
