"""Start the simulated server in-process and count what the client made it do."""

from __future__ import annotations

import asyncio

from geobox_usage import AsyncGeoboxClient
from geobox_usage.testing import DEMO_PASSWORD, DEMO_USERNAME, SimulatedGeobox

SERVES_ITSELF = True  # for the docs' tests: it starts its own simulator


async def main() -> None:
    async with SimulatedGeobox(seed=1) as sim:  # an ephemeral 127.0.0.1 port
        async with AsyncGeoboxClient(
            sim.base_url, username=DEMO_USERNAME, password=DEMO_PASSWORD
        ) as client:
            print(await client.update_usage())
        assert sim.updates_performed == 1
        assert sim.count("POST", "usage/update") == 1
        print(f"updates performed: {sim.updates_performed}")


if __name__ == "__main__":
    asyncio.run(main())
