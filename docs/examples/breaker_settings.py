"""The circuit breaker: stop calling a host after five failures in a row, probe after 10 s."""

from __future__ import annotations

import asyncio
import os

from geobox_usage import AsyncGeoboxClient, CircuitBreakerConfig

# The API host; the docs' tests point it at the simulated server. Credentials come from
# GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY or GEOBOX_USERNAME and GEOBOX_PASSWORD.
HOST = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")

SETTINGS = CircuitBreakerConfig(
    failure_threshold=5,  # consecutive failures that open the circuit
    cooldown=10.0,  # seconds open before one probe is let through
)


async def main() -> None:
    async with AsyncGeoboxClient(HOST, circuit_breaker=SETTINGS) as client:
        print(await client.get_usage_summary())


if __name__ == "__main__":
    asyncio.run(main())
