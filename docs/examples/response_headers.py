"""Extra headers on the simulator's successful answers, set up front or at any time."""

from __future__ import annotations

import asyncio

from geobox_usage import AsyncGeoboxClient
from geobox_usage.testing import DEMO_ACCESS_TOKEN, SimulatedGeobox

SERVES_ITSELF = True  # for the docs' tests: it starts its own simulator


async def main() -> None:
    sim = SimulatedGeobox(response_headers={"GET usage/summary": {"Cache-Control": "max-age=5"}})
    async with sim, AsyncGeoboxClient(sim.base_url, access_token=DEMO_ACCESS_TOKEN) as client:
        await client.get_usage_summary()
        sim.set_response_headers("usage/*", {"Cache-Control": "no-store"})  # at any time
        sim.set_response_headers("usage/*", None)  # remove the rule
        print(sim.response_headers)  # a copy of the rules


if __name__ == "__main__":
    asyncio.run(main())
