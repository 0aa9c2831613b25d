"""What the plugin adds to a call: without it, with it and no SDK, with an SDK.

Not a pass/fail test: it prints the median time per call (each of ``--rounds`` rounds
times ``--calls`` sequential ``get_usage_summary`` calls to the in-process simulated
server, one client per variant) and each variant's ratio to the plain client.

* ``plain``: the client without the plugin (``disable_plugins=("otel",)``);
* ``no-sdk``: the plugin with the API's no-op providers (what installing it costs a
  host that has not configured OpenTelemetry);
* ``sdk``: the plugin with an SDK tracer provider (``SimpleSpanProcessor`` into an
  ``InMemorySpanExporter``, cleared each round) and meter provider
  (``InMemoryMetricReader``).

Run: ``python plugins/geobox-usage-otel/benchmarks/overhead.py`` (needs
``opentelemetry-sdk``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from geobox_usage_otel import OpenTelemetryPlugin
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from geobox_usage import AsyncGeoboxClient
from geobox_usage.testing import DEMO_ACCESS_TOKEN, SimulatedGeobox


async def per_call_us(client: AsyncGeoboxClient, calls: int) -> float:
    """Microseconds per call over ``calls`` sequential calls."""
    started = time.perf_counter()
    for _ in range(calls):
        await client.get_usage_summary()
    return (time.perf_counter() - started) / calls * 1e6


async def main(rounds: int, calls: int) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    async with SimulatedGeobox() as sim:
        common: dict[str, Any] = {
            "host": sim.base_url,
            "access_token": DEMO_ACCESS_TOKEN,
            "load_entrypoints": False,
        }
        clients = {
            "plain": AsyncGeoboxClient(**common),
            "no-sdk": AsyncGeoboxClient(**common, plugins=[OpenTelemetryPlugin()]),
            "sdk": AsyncGeoboxClient(
                **common,
                plugins=[
                    OpenTelemetryPlugin(
                        tracer_provider=tracer_provider, meter_provider=meter_provider
                    )
                ],
            ),
        }
        timings: dict[str, list[float]] = {name: [] for name in clients}
        try:
            for client in clients.values():
                await per_call_us(client, calls)  # warm up: session, connection, caches
            for _ in range(rounds):
                for name, client in clients.items():  # interleaved: load hits all alike
                    timings[name].append(await per_call_us(client, calls))
                exporter.clear()
        finally:
            for client in clients.values():
                await client.close()
    plain = statistics.median(timings["plain"])
    print(f"{rounds} rounds x {calls} calls; median time per call")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"  {name:7} {median:8.1f} us  x{median / plain:.2f}  (+{median - plain:.1f} us)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.calls))
