"""One process of a test fleet: run by path, with arguments; prints a JSON result.

    python fleet_worker.py <mode> <redis url> <prefix> <simulator base url> [<arg>]

Modes: ``load <start> <seconds>`` calls get_usage_summary from 8 tasks from the wall
time ``start`` for ``seconds`` under ``rate=40, period=1.0``; ``read`` makes one cached
read; ``update`` one update; ``fail <n>`` makes ``n`` calls (to a failing server).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from geobox_usage import (
    AsyncGeoboxClient,
    CacheConfig,
    CircuitBreakerConfig,
    GeoboxError,
    RateLimitConfig,
    RetryConfig,
    TimeoutConfig,
)
from geobox_usage.testing import DEMO_ACCESS_TOKEN

from geobox_usage_redis import RedisPlugin


def client(url: str, prefix: str, base: str, **kwargs: Any) -> AsyncGeoboxClient:
    kwargs.setdefault("retry", RetryConfig(attempts=1))
    return AsyncGeoboxClient(
        host=base,
        access_token=DEMO_ACCESS_TOKEN,
        plugins=[RedisPlugin(url, prefix=prefix)],
        load_entrypoints=False,
        timeout=TimeoutConfig(connect=2.0, read=5.0),
        **kwargs,
    )


async def load(url: str, prefix: str, base: str, start: float, seconds: float) -> dict[str, Any]:
    config = RateLimitConfig(rate=40, period=1.0)
    ok = failed = 0
    async with client(url, prefix, base, rate_limit=config) as geobox:
        await asyncio.sleep(max(0.0, start - time.time()))
        end = time.monotonic() + seconds

        async def loop() -> None:
            nonlocal ok, failed
            while time.monotonic() < end:
                try:
                    await geobox.get_usage_summary()
                    ok += 1
                except GeoboxError:
                    failed += 1

        tasks = [asyncio.create_task(loop()) for _ in range(8)]
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"ok": ok, "failed": failed}


async def read(url: str, prefix: str, base: str) -> dict[str, Any]:
    async with client(url, prefix, base, cache=CacheConfig(ttl=60.0)) as geobox:
        data = await geobox.get_usage_summary()
    return {"data": data}


async def update(url: str, prefix: str, base: str) -> dict[str, Any]:
    async with client(url, prefix, base, cache=CacheConfig(ttl=60.0)) as geobox:
        await geobox.update_usage()
    return {}


async def fail(url: str, prefix: str, base: str, n: int) -> dict[str, Any]:
    breaker = CircuitBreakerConfig(failure_threshold=3, cooldown=30.0)
    errors: list[str] = []
    async with client(url, prefix, base, circuit_breaker=breaker) as geobox:
        for _ in range(n):
            try:
                await geobox.get_usage_summary()
            except GeoboxError as exc:
                errors.append(type(exc).__name__)
    return {"errors": errors}


def main() -> None:
    mode, url, prefix, base, *rest = sys.argv[1:]
    if mode == "load":
        result = asyncio.run(load(url, prefix, base, float(rest[0]), float(rest[1])))
    elif mode == "read":
        result = asyncio.run(read(url, prefix, base))
    elif mode == "update":
        result = asyncio.run(update(url, prefix, base))
    else:
        result = asyncio.run(fail(url, prefix, base, int(rest[0])))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
