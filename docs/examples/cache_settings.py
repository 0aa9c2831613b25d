"""The response cache: answers kept 30 s, 1024 entries at most, never served stale."""

from __future__ import annotations

import asyncio
import os

from geobox_usage import AsyncGeoboxClient, CacheConfig

# The API host; the docs' tests point it at the simulated server. Credentials come from
# GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY or GEOBOX_USERNAME and GEOBOX_PASSWORD.
HOST = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")

SETTINGS = CacheConfig(
    ttl=30.0,  # seconds an entry stays fresh, unless the server says otherwise
    max_entries=1024,  # the least recently used entries go first
    stale_if_error=0.0,  # seconds past expiry an entry may stand in for a failed call
    max_bytes=32 * 1024 * 1024,  # all entries together; larger answers are not kept
)


async def main() -> None:
    async with AsyncGeoboxClient(HOST, cache=SETTINGS) as client:
        print(await client.get_usage_summary())


if __name__ == "__main__":
    asyncio.run(main())
