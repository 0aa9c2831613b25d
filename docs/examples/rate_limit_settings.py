"""The rate limit as it comes by default: no fixed rate, 64 in flight, slower after a 429."""

from __future__ import annotations

import asyncio
import os

from geobox_usage import AsyncGeoboxClient, RateLimitConfig

# The API host; the docs' tests point it at the simulated server. Credentials come from
# GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY or GEOBOX_USERNAME and GEOBOX_PASSWORD.
HOST = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")

SETTINGS = RateLimitConfig(
    rate=None,  # requests per period; None: no fixed rate; 0.5 is allowed
    period=1.0,  # seconds
    max_concurrency=64,  # attempts in flight at once (also the aiohttp pool size)
    adaptive=True,  # AIMD on 429s
    max_pause=60.0,  # the longest pause one X-RateLimit-Reset may impose
)


async def main() -> None:
    async with AsyncGeoboxClient(HOST, rate_limit=SETTINGS) as client:
        print(await client.get_usage_summary())


if __name__ == "__main__":
    asyncio.run(main())
