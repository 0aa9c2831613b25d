"""How the plugin is found and configured, and that it shows no secret."""

from __future__ import annotations

import pytest
from geobox_usage import AsyncGeoboxClient, CacheConfig
from geobox_usage.resilience import InMemoryRateLimitStore
from geobox_usage.testing import DEMO_ACCESS_TOKEN

from geobox_usage_redis import (
    ENV_URL,
    RedisCacheBackend,
    RedisPlugin,
    RedisRateLimitStore,
    RedisSettings,
)


def limiter_store(client: AsyncGeoboxClient) -> object:
    return next(s.stage for s in client.pipeline.stages if s.name == "rate_limit").store


async def test_the_entry_point_plugin_is_configured_by_plugin_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    options = {"redis": {"url": "redis://127.0.0.1:1/0", "prefix": "app"}}
    client = AsyncGeoboxClient(
        access_token=DEMO_ACCESS_TOKEN, plugin_options=options, cache=CacheConfig()
    )
    store = limiter_store(client)
    assert isinstance(store, RedisRateLimitStore)
    assert store.keys[0].startswith("app:{")
    cache = next(s.stage for s in client.pipeline.stages if s.name == "cache")
    assert isinstance(cache.backend, RedisCacheBackend)
    await client.close()


async def test_the_entry_point_plugin_is_idle_without_a_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    client = AsyncGeoboxClient(access_token=DEMO_ACCESS_TOKEN)
    assert isinstance(limiter_store(client), InMemoryRateLimitStore)
    await client.close()
    monkeypatch.setenv(ENV_URL, "redis://127.0.0.1:1/0")
    client = AsyncGeoboxClient(access_token=DEMO_ACCESS_TOKEN)
    assert isinstance(limiter_store(client), RedisRateLimitStore)
    await client.close()


def test_settings_are_checked_and_never_show_the_url() -> None:
    settings = RedisSettings("redis://:s3cret@redis.internal:6379/0")
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in repr(RedisPlugin(settings=settings))
    with pytest.raises(ValueError, match="url must be"):
        RedisSettings("http://redis")
    with pytest.raises(ValueError, match="timeout must be a number > 0"):
        RedisSettings("redis://x", timeout=0)
    with pytest.raises(ValueError, match="needs a url"):
        RedisPlugin()


def test_keys_are_namespaced_by_the_identity_never_the_secret() -> None:
    client = AsyncGeoboxClient(
        access_token=DEMO_ACCESS_TOKEN,
        plugins=[RedisPlugin("redis://127.0.0.1:1/0")],
        load_entrypoints=False,
    )
    store = limiter_store(client)
    assert isinstance(store, RedisRateLimitStore)
    assert client.context.identity in store.keys[0]
    assert DEMO_ACCESS_TOKEN not in store.keys[0]
