"""Item 16: unknown plugin names, bad types and failing plugins are refused at construction.

Each used to be silently ignored or to fail only at the first call.
"""

from __future__ import annotations

from typing import Any

import pytest

from geobox_usage import AsyncGeoboxClient, CacheConfig, PipelineContext, hookimpl
from geobox_usage.caching import InMemoryCacheBackend


def build(**kwargs: Any) -> AsyncGeoboxClient:
    kwargs.setdefault("access_token", "t")
    kwargs.setdefault("load_entrypoints", False)
    return AsyncGeoboxClient(**kwargs)


def test_an_unknown_plugin_name_to_disable_is_refused(no_geobox_env: None) -> None:
    with pytest.raises(ValueError) as caught:
        build(disable_plugins=["retyr"])
    message = str(caught.value)
    assert "disable_plugins names no plugin called 'retyr'" in message
    assert "'retry'" in message and "'cache'" in message  # the known names are listed


def test_a_plain_string_is_not_a_list_of_names(no_geobox_env: None) -> None:
    with pytest.raises(ValueError, match=r"disable_plugins must be a list of plugin names"):
        build(disable_plugins="cache")


def test_a_name_that_is_not_a_string_is_refused(no_geobox_env: None) -> None:
    with pytest.raises(ValueError, match="disable_plugins takes plugin names"):
        build(disable_plugins=[3])


def test_a_third_party_plugins_name_may_be_disabled(no_geobox_env: None) -> None:
    class Extra:
        plugin_name = "extra"

    client = build(plugins=[Extra()], disable_plugins=["extra"])
    assert client.plugin_manager.get_plugin("extra") is None


def test_a_backend_only_plugin_named_cache_does_not_remove_the_cache_stage(
    no_geobox_env: None,
) -> None:
    class RedisLike:
        plugin_name = "cache"

        @hookimpl
        def geobox_usage_cache_backend(self, context: PipelineContext) -> InMemoryCacheBackend:
            return InMemoryCacheBackend()

    with pytest.raises(ValueError) as caught:
        build(plugins=[RedisLike()], cache=CacheConfig())
    message = str(caught.value)
    assert "plugin 'cache' replaces the built-in 'cache'" in message
    assert "geobox_usage_stage" in message


def test_a_plugin_that_fails_at_build_is_named(no_geobox_env: None) -> None:
    class Broken:
        plugin_name = "broken-metrics"

        @hookimpl
        def geobox_usage_stage(self, context: PipelineContext) -> None:
            raise KeyError("metrics_url")

    with pytest.raises(ValueError) as caught:
        build(plugins=[Broken()])
    message = str(caught.value)
    assert "plugin 'broken-metrics' failed" in message
    assert "geobox_usage_stage" in message and "KeyError" in message
    assert isinstance(caught.value.__cause__, KeyError)


def test_a_module_plugin_that_fails_at_build_is_named(no_geobox_env: None) -> None:
    class Unnamed:
        @hookimpl
        def geobox_usage_listener(self, context: PipelineContext) -> None:
            raise RuntimeError("no listener today")

    with pytest.raises(ValueError, match=r"plugin '[^']+' failed .*geobox_usage_listener"):
        build(plugins=[Unnamed()])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"verify": "no"}, "verify must be a bool, got str"),
        ({"verify": None}, "verify must be a bool, got NoneType"),
        ({"clock": object()}, "clock must have monotonic(), time() and sleep()"),
        ({"apikey": b"key", "access_token": None}, "apikey must be a string, got bytes"),
        ({"access_token": 123}, "access_token must be a string, got int"),
        ({"username": ["u"], "password": "p", "access_token": None}, "username must be a str"),
        ({"username": "u", "password": 0, "access_token": None}, "password must be a str"),
    ],
)
def test_bad_types_are_refused_at_construction(
    no_geobox_env: None, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        build(**kwargs)
    assert message in str(caught.value)
    assert "key" not in str(caught.value).replace("apikey", "")  # never the value itself
