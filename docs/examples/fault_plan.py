"""A fault plan: refuse, drop and damage chosen requests; the client rides it out."""

from __future__ import annotations

import asyncio

from geobox_usage import AsyncGeoboxClient
from geobox_usage.testing import DEMO_ACCESS_TOKEN, Fault, FaultPlan, SimulatedGeobox

SERVES_ITSELF = True  # for the docs' tests: it starts its own simulator

plan = (
    FaultPlan(seed=0)
    .sequence("POST usage/update", Fault.status(429, retry_after=0.05), None, Fault.drop())
    .random("usage/*", 0.1, [Fault.status(502, html=True), Fault.delay(0.2)])
)


async def main() -> None:
    async with SimulatedGeobox(faults=plan) as sim:
        async with AsyncGeoboxClient(sim.base_url, access_token=DEMO_ACCESS_TOKEN) as client:
            print(await client.update_usage())  # the 429 is waited out and retried
        print(f"requests: {sim.count('POST', 'usage/update')}, updates: {sim.updates_performed}")


if __name__ == "__main__":
    asyncio.run(main())
