"""Installing the distribution is enough: the entry point registers the plugin."""

from __future__ import annotations

from importlib.metadata import entry_points

import geobox_usage_otel

from geobox_usage import AsyncGeoboxClient
from geobox_usage.testing import DEMO_ACCESS_TOKEN, SimulatedGeobox


def test_the_distribution_declares_the_otel_entry_point() -> None:
    (found,) = [ep for ep in entry_points(group="geobox_usage") if ep.name == "otel"]
    assert found.load() is geobox_usage_otel.plugin


async def test_an_installed_plugin_traces_every_client_unless_disabled(
    sim: SimulatedGeobox,
) -> None:
    async with AsyncGeoboxClient(host=sim.base_url, access_token=DEMO_ACCESS_TOKEN) as client:
        assert client.plugin_manager.get_plugin("otel") is geobox_usage_otel.plugin
        names = client.pipeline.names
        assert names[0] == "otel_call"
        assert names.index("retry") < names.index("otel_attempt") == names.index("auth") - 1
        await client.get_usage_summary()  # no SDK configured: a no-op, and it still works
    async with AsyncGeoboxClient(
        host=sim.base_url, access_token=DEMO_ACCESS_TOKEN, disable_plugins=("otel",)
    ) as plain:
        assert not [n for n in plain.pipeline.names if n.startswith("otel")]
        assert plain.plugin_manager.get_plugin("otel") is None


def test_a_plugin_passed_by_hand_replaces_the_installed_one() -> None:
    mine = geobox_usage_otel.OpenTelemetryPlugin()
    client = AsyncGeoboxClient(access_token="t", plugins=[mine])
    assert client.plugin_manager.get_plugin("otel") is mine
    assert client.pipeline.names.count("otel_call") == 1
