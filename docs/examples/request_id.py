"""Carry the request id of the request your service is handling into its Geobox calls."""

from __future__ import annotations

import asyncio
import os

import geobox_usage
from geobox_usage import AsyncGeoboxClient

# The API host; the docs' tests point it at the simulated server. Credentials come from
# GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY or GEOBOX_USERNAME and GEOBOX_PASSWORD.
HOST = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")


async def handle(incoming_request_id: str, client: AsyncGeoboxClient) -> None:
    """What a request handler of your service does: its Geobox calls share its id."""
    with geobox_usage.request_id(incoming_request_id):
        print(geobox_usage.current_request_id())  # the id every call below sends
        print(await client.get_usage_summary())


async def main() -> None:
    async with AsyncGeoboxClient(HOST) as client:
        await handle("order-7f3a9c", client)


if __name__ == "__main__":
    asyncio.run(main())
