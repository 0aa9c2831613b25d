"""The plugin examples in docs/examples work as the docs say, against the simulator."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from geobox_usage import AuthenticationError, ServerError, UsageParam, UsageScale
from geobox_usage.testing import (
    ADMIN_ACCESS_TOKEN,
    DEMO_ACCESS_TOKEN,
    Fault,
    FaultPlan,
    SimulatedGeobox,
)

from .conftest import ClientFactory

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_custom_auth_plugin_replaces_the_builtin_and_refreshes_on_401(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    example = load_example("custom_auth")
    tokens = iter(["revoked-token", DEMO_ACCESS_TOKEN, ADMIN_ACCESS_TOKEN, "revoked-again"])

    async def vault() -> str:
        return next(tokens)

    plugin = example.VaultTokenAuth(vault, account="reporting")
    client = make_client(no_credentials=True, plugins=[plugin])
    assert "vault-auth" in client.pipeline.names and "auth" not in client.pipeline.names
    assert client.context.identity.startswith("vault:")
    # The store's first token is refused: one refresh, and the call is repeated once.
    results = await asyncio.gather(*(client.get_usage_summary() for _ in range(5)))
    assert all(r == sim.summary_of(7) for r in results)
    assert plugin.fetches == 2  # the 401s of five calls at once made one refresh
    assert await client.get_usage_summary() == sim.summary_of(7)  # the kept token
    assert plugin.fetches == 2
    sent = [r.header("Authorization") for r in sim.requests]
    assert set(sent) == {"Bearer revoked-token", f"Bearer {DEMO_ACCESS_TOKEN}"}
    assert sent[-1] == f"Bearer {DEMO_ACCESS_TOKEN}"
    assert "revoked-token" not in repr(plugin)


async def test_custom_auth_plugin_gives_up_when_the_store_has_nothing_better(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    example = load_example("custom_auth")

    async def vault() -> str:
        return "revoked-token"

    client = make_client(no_credentials=True, plugins=[example.VaultTokenAuth(vault, account="a")])
    with pytest.raises(AuthenticationError):
        await client.get_usage_summary()
    assert sim.count("GET", "usage/summary") == 1  # not repeated with the same token


async def test_custom_cache_plugin_serves_copies_and_keeps_credentials_apart(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    example = load_example("custom_cache")
    demo = make_client(plugins=[example.TtlCachePlugin(ttl=60)])
    admin = make_client(access_token=ADMIN_ACCESS_TOKEN, plugins=[example.TtlCachePlugin(ttl=60)])
    assert "ttl-cache" in demo.pipeline.names
    first = await demo.get_usage_summary()
    first["daily_api_calls"] = "mutated by the caller"
    second = await demo.get_usage_summary()
    assert second["daily_api_calls"] != "mutated by the caller"
    assert sim.count(path="usage/summary") == 1
    await admin.get_usage_summary()
    assert sim.count(path="usage/summary") == 2  # another credential, another entry
    await demo.update_usage()
    await demo.update_usage()
    assert sim.updates_performed == 2  # never cached: not storable


async def test_custom_cache_plugin_serves_fresh_answers_after_an_update(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    example = load_example("custom_cache")
    client = make_client(plugins=[example.TtlCachePlugin(ttl=60)])
    user = await client.get_user()
    await client.get_usage_summary()
    await client.get_process_usage(days_before_now=3)
    await client.get_api_usage(user, UsageScale.Day, UsageParam.Calls, days_before_now=3)
    await client.update_usage()
    await client.get_usage_summary()
    await client.get_process_usage(days_before_now=3)
    await client.get_api_usage(user, UsageScale.Day, UsageParam.Calls, days_before_now=3)
    await client.get_user()
    assert sim.count(path="usage/summary") == 2
    assert sim.count(path="usage/process") == 2
    assert sim.count(path="usage/api") == 2
    assert sim.count(path="users/me/") == 1  # the update does not make a user stale


async def test_custom_cache_plugin_invalidates_even_when_the_update_fails(
    sim: SimulatedGeobox, fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    example = load_example("custom_cache")
    fault_plan.sequence("POST usage/update", Fault.status(500))
    client = make_client(plugins=[example.TtlCachePlugin(ttl=60)], retry=None)
    await client.get_usage_summary()
    with pytest.raises(ServerError):
        await client.update_usage()
    assert sim.updates_performed == 1  # the update reached the server; its answer was lost
    await client.get_usage_summary()
    assert sim.count(path="usage/summary") == 2


async def test_custom_cache_plugin_keeps_at_most_max_entries(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    example = load_example("custom_cache")
    client = make_client(plugins=[example.TtlCachePlugin(ttl=60, max_entries=2)])
    for days in (1, 2, 3, 1):
        await client.get_process_usage(days_before_now=days)
    assert sim.count(path="usage/process") == 4  # days=1 was evicted by days=3
    await client.get_process_usage(days_before_now=3)  # still held: the most recent two
    assert sim.count(path="usage/process") == 4
    [stage] = [s.stage for s in client.pipeline.stages if s.name == "ttl-cache"]
    assert len(stage.entries) == 2
