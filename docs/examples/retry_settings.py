"""Retries: at most four attempts a call, within a minute and a retry budget."""

from __future__ import annotations

import asyncio
import os

from geobox_usage import AsyncGeoboxClient, RetryConfig

# The API host; the docs' tests point it at the simulated server. Credentials come from
# GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY or GEOBOX_USERNAME and GEOBOX_PASSWORD.
HOST = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")

SETTINGS = RetryConfig(
    attempts=4,  # the most attempts per call, the first included
    backoff_base=0.2,  # first backoff ceiling, seconds
    backoff_max=10.0,  # backoff cap, seconds
    deadline=60.0,  # the whole call (attempts and waits), seconds
    budget_ratio=0.2,  # retries <= 20% of the calls of the last 10 s ...
    budget_min_per_s=5.0,  # ... plus 5 per second
)


async def main() -> None:
    async with AsyncGeoboxClient(HOST, retry=SETTINGS) as client:
        print(await client.get_usage_summary())


if __name__ == "__main__":
    asyncio.run(main())
