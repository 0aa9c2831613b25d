"""The fleet's rate limit in Redis: one sliding window, the AIMD rate and the pause.

One Lua script per call (:data:`ACQUIRE`) applies the successes this process buffered
(additive increase), honours the shared pause, and takes a send from a sliding-window
log (a sorted set of send times) if one is free, all atomically and on the Redis
server's clock, so that hosts with different clocks agree. It answers with the wait
(``0`` when a send was taken) and the adaptive state, which the process keeps as its
view. A 429 (:data:`THROTTLE`) and a pause from headers (:data:`PAUSE`) are one more
script each; they are rare.

The rules are the core's (:mod:`geobox_usage.resilience._ratestore` and ``_aimd``),
restated in Lua; the concurrency cap stays in each process.

While Redis is lost the store falls back on a local in-memory store, which starts from
the fleet's adaptive state as last read (a cut rate stays cut, and recovers with
successes), so that the switch itself changes no rate and emits no ``geobox.ratelimit``
event. When Redis answers again, :data:`MERGE` gives the fleet this process's state if
it is of a later round of cuts (a cut made during the outage, or a Redis that came
back empty), so that it is shared rather than undone; then the view is Redis's again.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from geobox_usage import RateLimitConfig
from geobox_usage.resilience import AimdState, InMemoryRateLimitStore
from geobox_usage.resilience._aimd import DECREASE_FACTOR, MIN_RATE, RECOVERY_STEPS
from geobox_usage.resilience._ratestore import ADAPTIVE_BURST_S

from ._link import RedisLink, RedisUnavailable

__all__ = ["RedisRateLimitStore"]

# State hash fields: rate (absent: the ceiling), target (absent: not recovering), epoch,
# pause_until. Numbers travel as strings: Lua numbers returned to Redis are truncated.
_READ_STATE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) + tonumber(now_t[2]) / 1000000
local st = redis.call('HMGET', KEYS[2], 'rate', 'target', 'epoch', 'pause_until')
local ceiling = tonumber(ARGV[3])
local rate = tonumber(st[1])
local target = tonumber(st[2])
local epoch = tonumber(st[3]) or 0
local pause_until = tonumber(st[4]) or 0
local function effective() if rate ~= nil then return rate end return ceiling end
local function reply(wait)
  return {tostring(wait), tostring(epoch), st[1] and tostring(rate) or '',
          target and tostring(target) or ''}
end
"""

ACQUIRE = (
    _READ_STATE
    + """
-- ARGV: 1 rate per period ('' none), 2 period, 3 ceiling per s ('' none),
--       4 adaptive burst s, 5 successes, 6 member, 7 recovery steps
local successes = tonumber(ARGV[5])
if successes > 0 and target ~= nil and effective() ~= nil then
  local grown = effective() + successes * target / tonumber(ARGV[7])
  if grown >= target then
    redis.call('HDEL', KEYS[2], 'rate', 'target')
    rate = nil; target = nil; st[1] = false
  else
    redis.call('HSET', KEYS[2], 'rate', tostring(grown))
    rate = grown; st[1] = tostring(grown)
  end
end
if now < pause_until then return reply(pause_until - now) end
local r = effective()
if r == nil then return reply(0) end
local cfg = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local limit, span
if cfg ~= nil and rate == nil then
  limit = math.max(1, math.floor(cfg)); span = limit * period / cfg
else
  limit = math.max(1, math.floor(r * tonumber(ARGV[4]))); span = limit / r
end
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local edge = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  local wait = tonumber(edge[2]) + span - now
  if wait > 0 then return reply(wait) end
end
redis.call('ZADD', KEYS[1], now, ARGV[6])
if count + 1 > limit then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, count - limit) end
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(span, period) * 1000) + 1000)
return reply(0)
"""
)

THROTTLE = (
    _READ_STATE
    + """
-- ARGV: 1 sent epoch, 2 measured, 3 ceiling per s ('' none), 4 min rate, 5 decrease
if tonumber(ARGV[1]) < epoch then return reply(-1) end
local current = effective()
if current == nil then current = math.max(tonumber(ARGV[2]), tonumber(ARGV[4])) end
local goal = target or ceiling or current
local cut = math.min(current, math.max(tonumber(ARGV[4]), current * tonumber(ARGV[5])))
if effective() ~= nil and cut >= effective() then return reply(-1) end
epoch = epoch + 1
rate = cut; target = goal; st[1] = tostring(cut)
redis.call('HSET', KEYS[2], 'rate', tostring(cut), 'target', tostring(goal), 'epoch', epoch)
redis.call('PEXPIRE', KEYS[2], 86400000)
return reply(0)
"""
)

PAUSE = (
    _READ_STATE
    + """
-- ARGV: 1 seconds, 3 ceiling
local until_t = now + tonumber(ARGV[1])
if until_t <= pause_until then return reply(-1) end
redis.call('HSET', KEYS[2], 'pause_until', tostring(until_t))
redis.call('PEXPIRE', KEYS[2], 86400000)
return reply(0)
"""
)


MERGE = (
    _READ_STATE
    + """
-- ARGV: 1 local epoch, 2 local rate, 3 ceiling per s ('' none), 4 local target ('' none)
local mine = tonumber(ARGV[1])
if mine <= epoch then return reply(-1) end
epoch = mine
if ARGV[4] ~= '' then
  rate = tonumber(ARGV[2]); target = tonumber(ARGV[4]); st[1] = ARGV[2]
  redis.call('HSET', KEYS[2], 'rate', ARGV[2], 'target', ARGV[4], 'epoch', epoch)
else
  rate = nil; target = nil; st[1] = false
  redis.call('HDEL', KEYS[2], 'rate', 'target')
  redis.call('HSET', KEYS[2], 'epoch', epoch)
end
redis.call('PEXPIRE', KEYS[2], 86400000)
return reply(0)
"""
)


class RedisRateLimitStore:
    """A :class:`~geobox_usage.RateLimitStore` shared through Redis.

    Args:
        link: the client's Redis link.
        config: the rate limit settings (every process of the fleet should use the same).
        identity: the credential's non-secret identity; keys are namespaced by it.
        local: the in-memory store used while Redis is lost (fail open).
    """

    def __init__(
        self,
        link: RedisLink,
        config: RateLimitConfig,
        identity: str,
        local: InMemoryRateLimitStore,
    ) -> None:
        self._link = link
        self._config = config
        self._local = local
        base = f"{link.settings.prefix}:{{{identity}}}:rate"
        self.keys = (f"{base}:log", f"{base}:state")
        ceiling = config.rate / config.period if config.rate is not None else None
        self._ceiling = ceiling
        self._ceiling_arg = "" if ceiling is None else repr(ceiling)
        self._rate_arg = "" if config.rate is None else repr(float(config.rate))
        self._period_arg = repr(float(config.period))
        self._adaptive = config.adaptive
        self._state: AimdState | None = AimdState.initial(ceiling) if config.adaptive else None
        self._raw: tuple[Any, ...] = ("0", "", "")
        self._successes = 0
        self._member = f"{os.getpid()}-{os.urandom(4).hex()}-"
        self._count = itertools.count()
        self._acquire = link.script(ACQUIRE)
        self._throttle = link.script(THROTTLE)
        self._pause = link.script(PAUSE)
        self._merge = link.script(MERGE)
        self._on_local = False
        self._merged = False  # set by a merge on restore, cleared by the next reply
        link.on_restore(self._share_local_state)

    @property
    def state(self) -> AimdState | None:
        """The adaptive state as last read from Redis, or the local one from the moment
        Redis is lost until Redis answers this store again."""
        if not self._link.available:
            self._use_local()
        return self._local.state if self._on_local else self._state

    def _use_local(self) -> None:
        """Switch to the local store, seeded with the fleet's state as last read."""
        if self._on_local:
            return
        self._on_local = True
        if self._state is not None:
            _seed(self._local, self._state)

    async def acquire(self) -> float:
        """One round trip: apply buffered successes, honour the pause, take a send."""
        successes, self._successes = self._successes, 0
        args = (
            self._rate_arg,
            self._period_arg,
            self._ceiling_arg,
            ADAPTIVE_BURST_S,
            successes,
            f"{self._member}{next(self._count)}",
            RECOVERY_STEPS,
        )
        try:
            reply = await self._link.run(
                lambda client: self._acquire(keys=self.keys, args=args, client=client)
            )
        except RedisUnavailable:
            if self._link.settings.fail_closed:
                raise self._link.refusal("rate limit") from None
            self._use_local()
            return await self._local.acquire()
        self._adopt_reply(reply)
        return float(reply[0])

    async def throttled(self, sent_epoch: int, measured: float) -> AimdState | None:
        """Cut the fleet's rate, once per round (see ``on_throttle``)."""
        if not self._adaptive:
            return None
        args = (sent_epoch, measured, self._ceiling_arg, MIN_RATE, DECREASE_FACTOR)
        try:
            reply = await self._link.run(
                lambda client: self._throttle(keys=self.keys, args=args, client=client)
            )
        except RedisUnavailable:
            self._use_local()
            return await self._local.throttled(sent_epoch, measured)
        self._adopt_reply(reply)
        return self._state if float(reply[0]) == 0 else None

    def succeeded(self) -> None:
        """Buffer a success; the next :meth:`acquire` applies it."""
        if self._link.available:
            self._successes += 1
        else:
            self._local.succeeded()

    async def pause(self, seconds: float) -> bool:
        """Pause the whole fleet for ``seconds`` (never shortening a pause)."""
        local = await self._local.pause(seconds)
        try:
            reply = await self._link.run(
                lambda client: self._pause(
                    keys=self.keys, args=(seconds, "", self._ceiling_arg), client=client
                )
            )
        except RedisUnavailable:
            self._use_local()
            return local
        self._adopt_reply(reply)
        return float(reply[0]) == 0

    async def _share_local_state(self) -> None:
        """When Redis returns: give the fleet this process's adaptive state if it is of
        a later round of cuts than the fleet's (see :data:`MERGE`)."""
        local = self._local.state
        if not self._on_local or local is None or local.epoch == 0:
            return
        args = (
            local.epoch,
            "" if local.rate is None else repr(local.rate),
            self._ceiling_arg,
            "" if local.target is None else repr(local.target),
        )
        reply = await self._link.run(
            lambda client: self._merge(keys=self.keys, args=args, client=client)
        )
        self._adopt(reply)
        self._merged = True

    def _adopt_reply(self, reply: list[Any]) -> None:
        """Adopt the state a script answered, unless the merge that ran when Redis came
        back (inside that same call, after the script) adopted a later one."""
        if self._merged:
            self._merged = False
            return
        self._adopt(reply)

    def _adopt(self, reply: list[Any]) -> None:
        self._on_local = False
        raw = (reply[1], reply[2], reply[3])
        if raw == self._raw or not self._adaptive:
            return
        self._raw = raw
        epoch = int(raw[0])
        rate = float(raw[1]) if raw[1] else self._ceiling
        target = float(raw[2]) if raw[2] else None
        self._state = AimdState(self._ceiling, rate, target, epoch)

    async def aclose(self) -> None:
        """Close the Redis link."""
        await self._link.aclose()

    def __repr__(self) -> str:
        return f"RedisRateLimitStore(keys={self.keys[0]!r}, link={self._link!r})"


def _seed(local: InMemoryRateLimitStore, state: AimdState) -> None:
    """Make ``local`` go on from ``state`` (its rate, recovery and epoch)."""
    local._adopt(state)
