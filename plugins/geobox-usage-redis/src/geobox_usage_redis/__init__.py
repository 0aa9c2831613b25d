"""geobox-usage-redis: share the rate limit, cache, breaker and retry budget through Redis.

A Geobox quota belongs to a credential, not to a process. With this plugin every
process and host that uses a credential shares, through one Redis:

* the rate limit: one budget of ``rate`` per ``period`` (a sliding window in a Lua
  script), the AIMD rate after 429s, and the pause learnt from ``X-RateLimit-*``;
* the response cache (JSON entries with TTLs) and its invalidation generations;
* the circuit breaker state of each host;
* the retry budget.

Enable it with ``plugins=[RedisPlugin("redis://host:6379/0")]``, or, since it is
installed in the ``geobox_usage`` entry-point group, with
``plugin_options={"redis": {"url": ..., "prefix": ...}}`` or the
``GEOBOX_USAGE_REDIS_URL`` environment variable. Without a URL it does nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from geobox_usage import RetryConfig, hookimpl
from geobox_usage.caching import InMemoryCacheBackend
from geobox_usage.pipeline import PipelineContext
from geobox_usage.resilience import (
    InMemoryBreakerStore,
    InMemoryRateLimitStore,
    InMemoryRetryBudgetStore,
    RetryBudget,
)

from ._breaker import RedisBreakerStore
from ._budget import RedisRetryBudgetStore
from ._cache import RedisCacheBackend
from ._link import RedisLink, RedisSettings, SharedStateUnavailableError
from ._ratelimit import RedisRateLimitStore

__all__ = [
    "ENV_URL",
    "RedisBreakerStore",
    "RedisCacheBackend",
    "RedisLink",
    "RedisPlugin",
    "RedisRateLimitStore",
    "RedisRetryBudgetStore",
    "RedisSettings",
    "SharedStateUnavailableError",
]

ENV_URL = "GEOBOX_USAGE_REDIS_URL"
"""The environment variable the entry-point plugin reads its URL from."""


class RedisPlugin:
    """The plugin: supplies the four shared stores to each client it is given to.

    Args:
        url: the Redis URL; or pass ``settings``.
        prefix: the first part of every key.
        timeout: seconds a Redis call may take before Redis counts as lost.
        retry_interval: seconds without Redis after a failure before trying again.
        fail_closed: refuse calls while Redis is lost instead of using local state.
        breaker_refresh: seconds a closed, clean circuit seen in Redis is trusted
            without asking again (see :class:`RedisSettings`).
        settings: all of the above at once.
    """

    plugin_name = "redis"

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "geobox",
        timeout: float = 0.25,
        retry_interval: float = 1.0,
        fail_closed: bool = False,
        breaker_refresh: float = 0.1,
        settings: RedisSettings | None = None,
    ) -> None:
        if settings is None:
            if url is None:
                raise ValueError("RedisPlugin needs a url (redis://host:port/db) or settings")
            settings = RedisSettings(
                url, prefix, timeout, retry_interval, fail_closed, breaker_refresh
            )
        self.settings: RedisSettings | None = settings
        self._last: tuple[object, RedisLink] | None = None

    def settings_for(self, context: PipelineContext) -> RedisSettings | None:
        """The settings for a client (``None``: the plugin stays out of it)."""
        return self.settings

    def link(self, context: PipelineContext) -> RedisLink | None:
        """The one Redis link of a client, made on first ask.

        A client asks every hook while it is built, one after the other, so the link
        made for the client being built is the last one made; only that one is kept.
        """
        settings = self.settings_for(context)
        if settings is None:
            return None
        last = self._last
        if last is not None and last[0] is context.events:
            return last[1]
        link = RedisLink(settings, context.events)
        self._last = (context.events, link)
        return link

    @hookimpl
    def geobox_usage_rate_limit_store(self, context: PipelineContext) -> Any:
        """The shared rate limiter (when ``rate_limit=`` is set)."""
        link = self.link(context)
        config = context.rate_limit
        if link is None or config is None:
            return None
        local = InMemoryRateLimitStore(config, context.clock)
        return RedisRateLimitStore(link, config, context.identity, local)

    @hookimpl
    def geobox_usage_cache_backend(self, context: PipelineContext) -> Any:
        """The shared cache (when ``cache=`` is set)."""
        link = self.link(context)
        if link is None or context.cache is None:
            return None
        local = InMemoryCacheBackend(context.cache.max_entries, now=context.clock.time)
        return RedisCacheBackend(link, local)

    @hookimpl
    def geobox_usage_breaker_store(self, context: PipelineContext) -> Any:
        """The shared breaker (when ``circuit_breaker=`` is set)."""
        link = self.link(context)
        config = context.circuit_breaker
        if link is None or config is None:
            return None
        local = InMemoryBreakerStore(config.failure_threshold, config.cooldown)
        return RedisBreakerStore(link, config.failure_threshold, config.cooldown, local)

    @hookimpl
    def geobox_usage_retry_budget_store(self, context: PipelineContext) -> Any:
        """The shared retry budget."""
        link = self.link(context)
        if link is None:
            return None
        retry = context.retry or RetryConfig(attempts=1)
        local = InMemoryRetryBudgetStore(RetryBudget(retry.budget_ratio, retry.budget_min_per_s))
        return RedisRetryBudgetStore(
            link, context.identity, retry.budget_ratio, retry.budget_min_per_s, local
        )

    def __repr__(self) -> str:
        return f"RedisPlugin({self.settings!r})"


class _EntryPointPlugin(RedisPlugin):
    """The plugin as the entry point installs it: configured per client, or idle."""

    def __init__(self) -> None:
        self.settings = None
        self._last = None

    def settings_for(self, context: PipelineContext) -> RedisSettings | None:
        options = context.options.get("redis")
        if isinstance(options, RedisSettings):
            return options
        if isinstance(options, str):
            return RedisSettings(options)
        if isinstance(options, Mapping):
            return RedisSettings(**options)
        if options is not None:
            raise ValueError(
                "plugin_options['redis'] must be a URL, a mapping of RedisSettings fields "
                f"or a RedisSettings, got {type(options).__name__}"
            )
        url = os.environ.get(ENV_URL)
        return RedisSettings(url) if url else None


plugin = _EntryPointPlugin()
"""The instance the ``geobox_usage`` entry point registers (under the name ``redis``)."""
