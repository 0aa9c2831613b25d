"""The circuit breaker in Redis: one state per host for the whole fleet.

:data:`ADMIT` and :data:`RECORD` restate the core's pure state machine
(:mod:`geobox_usage.resilience._breaker_state`) in Lua, atomic on the server and timed
by its clock, so that processes agree on one probe. A probe whose process died is not
waited for forever: after a cooldown another process may probe.
"""

from __future__ import annotations

from typing import Any

from geobox_usage.resilience import (
    Admission,
    BreakerState,
    CircuitState,
    InMemoryBreakerStore,
    Outcome,
    Transition,
)

from ._link import RedisLink, RedisUnavailable

__all__ = ["RedisBreakerStore"]

ADMIT = """
-- ARGV: 1 cooldown
local s = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'probing', 'probe_at')
local state = s[1] or 'closed'
local failures = s[2] or '0'
if state == 'closed' then return {'1', '0', '0', state, state, failures} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cooldown = tonumber(ARGV[1])
if state == 'open' then
  local ready = tonumber(s[3]) + cooldown
  if now < ready then return {'0', '0', tostring(ready - now), state, state, failures} end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probing', '1', 'probe_at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], 86400000)
  return {'1', '1', '0', 'open', 'half_open', failures}
end
if s[4] == '1' and now - tonumber(s[5] or '0') < cooldown then
  return {'0', '0', '0', state, state, failures}
end
redis.call('HSET', KEYS[1], 'probing', '1', 'probe_at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 86400000)
return {'1', '1', '0', state, state, failures}
"""

RECORD = """
-- ARGV: 1 outcome, 2 probe ('1'/'0'), 3 threshold
local s = redis.call('HMGET', KEYS[1], 'state', 'failures', 'probing')
local state = s[1] or 'closed'
local failures = tonumber(s[2] or '0')
local outcome = ARGV[1]
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) + tonumber(t[2]) / 1000000)
if state == 'closed' then
  if outcome == 'success' then
    if failures > 0 then redis.call('HSET', KEYS[1], 'failures', '0') end
    return {state, state, '0'}
  elseif outcome == 'failure' then
    failures = failures + 1
    if failures >= tonumber(ARGV[3]) then
      redis.call('HSET', KEYS[1], 'state', 'open', 'failures', failures, 'opened_at', now,
                 'probing', '0')
      redis.call('PEXPIRE', KEYS[1], 86400000)
      return {state, 'open', tostring(failures)}
    end
    redis.call('HSET', KEYS[1], 'failures', failures)
    redis.call('PEXPIRE', KEYS[1], 86400000)
  end
  return {state, state, tostring(failures)}
end
if not (ARGV[2] == '1' and state == 'half_open' and s[3] == '1') then
  return {state, state, tostring(failures)}
end
if outcome == 'success' then
  redis.call('DEL', KEYS[1])
  return {state, 'closed', '0'}
elseif outcome == 'failure' then
  failures = failures + 1
  redis.call('HSET', KEYS[1], 'state', 'open', 'failures', failures, 'opened_at', now,
             'probing', '0')
  redis.call('PEXPIRE', KEYS[1], 86400000)
  return {state, 'open', tostring(failures)}
end
redis.call('HSET', KEYS[1], 'probing', '0')
return {state, state, tostring(failures)}
"""

_STATES = {s.value: s for s in CircuitState}
_ADMITTED = Admission(True, False, 0.0)


class RedisBreakerStore:
    """A :class:`~geobox_usage.resilience.BreakerStore` shared through Redis.

    A success on a circuit this process last saw closed with no failures costs no
    round trip. So does an admission within ``breaker_refresh`` seconds of the last
    answer that showed the circuit closed with no failures (a lease this process drops
    as soon as one of its own calls fails): with the rate limiter's script, a call then
    costs one round trip. Another process's opening reaches this one at most
    ``breaker_refresh`` seconds late.

    Args:
        link: the client's Redis link.
        failure_threshold: consecutive failures (fleet-wide) that open a circuit.
        cooldown: seconds a circuit stays open before a probe.
        local: the in-memory store used while Redis is lost (fail open).
    """

    def __init__(
        self, link: RedisLink, failure_threshold: int, cooldown: float, local: InMemoryBreakerStore
    ) -> None:
        self._link = link
        self._threshold = failure_threshold
        self._cooldown = cooldown
        self._local = local
        self._prefix = f"{link.settings.prefix}:breaker:"
        self._failures: dict[str, int] = {}
        self._refresh = link.settings.breaker_refresh
        self._clear_until: dict[str, float] = {}  # host: the lease on "closed, clean" ends
        self._admit = link.script(ADMIT)
        self._record = link.script(RECORD)

    def key(self, host: str) -> str:
        """The Redis key of ``host``'s breaker."""
        return self._prefix + host

    async def admit(self, host: str, now: float) -> tuple[Admission, Transition | None]:
        """See :meth:`~geobox_usage.resilience.BreakerStore.admit` (Redis time)."""
        if now < self._clear_until.get(host, 0.0):
            return _ADMITTED, None  # seen closed and clean less than breaker_refresh ago
        keys = (self.key(host),)
        try:
            reply = await self._link.run(
                lambda c: self._admit(keys=keys, args=(self._cooldown,), client=c)
            )
        except RedisUnavailable:
            if self._link.settings.fail_closed:
                raise self._link.refusal("circuit breaker") from None
            return await self._local.admit(host, now)
        allowed, probe, retry_in, old, new, failures = reply
        self._failures[host] = int(failures)
        admission = Admission(allowed == b"1", probe == b"1", float(retry_in))
        self._lease(host, new, failures, now)
        return admission, _transition(old, new, failures)

    async def record(
        self, host: str, outcome: Outcome, now: float, *, probe: bool
    ) -> Transition | None:
        """See :meth:`~geobox_usage.resilience.BreakerStore.record` (Redis time)."""
        if not probe and (
            outcome is Outcome.NEUTRAL
            or (outcome is Outcome.SUCCESS and not self._failures.get(host))
        ):
            return None  # nothing to change: no round trip
        keys = (self.key(host),)
        args = (outcome.value, "1" if probe else "0", self._threshold)
        try:
            reply = await self._link.run(lambda c: self._record(keys=keys, args=args, client=c))
        except RedisUnavailable:
            return await self._local.record(host, outcome, now, probe=probe)
        old, new, failures = reply
        self._failures[host] = int(failures)
        self._lease(host, new, failures, now)
        return _transition(old, new, failures)

    def _lease(self, host: str, state: bytes, failures: bytes, now: float) -> None:
        """Trust "closed, no failures" for ``breaker_refresh`` seconds; anything else
        (a failure, an open or half-open circuit) is asked about on every call."""
        if state == b"closed" and failures == b"0" and self._refresh > 0:
            self._clear_until[host] = now + self._refresh
        else:
            self._clear_until.pop(host, None)

    async def state(self, host: str) -> BreakerState:
        """The host's state as Redis holds it (``opened_at`` on the Redis clock)."""
        try:
            raw: list[Any] = await self._link.run(
                lambda c: c.hmget(self.key(host), "state", "failures", "opened_at", "probing")
            )
        except RedisUnavailable:
            return await self._local.state(host)
        state, failures, opened_at, probing = raw
        return BreakerState(
            _STATES[(state or b"closed").decode()],
            int(failures or 0),
            float(opened_at or 0.0),
            probing == b"1",
        )

    async def aclose(self) -> None:
        """Close the Redis link (the client is closing)."""
        await self._link.aclose()

    def __repr__(self) -> str:
        return f"RedisBreakerStore(prefix={self._prefix!r}, link={self._link!r})"


def _transition(old: bytes, new: bytes, failures: bytes) -> Transition | None:
    if old == new:
        return None
    return Transition(_STATES[old.decode()], _STATES[new.decode()], int(failures))
