"""The cost of one rate-limit decision: the Redis limiter next to the in-process one.

    python benchmarks/bench_limiter.py [--url redis://127.0.0.1:6379/0] [--calls 5000]

Without ``--url`` it starts a private redis-server on a free loopback port (as the
tests do). Each sample is one ``RateLimitStore.acquire()`` that finds a send free (a
rate high enough never to wait), timed with ``perf_counter_ns``; the Redis one is one
round trip (one ``EVALSHA``). Prints median and p99 in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

from geobox_usage import RateLimitConfig, SystemClock
from geobox_usage.events import EventBus
from geobox_usage.resilience import InMemoryRateLimitStore, RateLimitStore

from geobox_usage_redis import RedisLink, RedisRateLimitStore, RedisSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests._redis import RedisServer

CONFIG = RateLimitConfig(rate=1_000_000, period=1.0)


async def sample(store: RateLimitStore, calls: int) -> list[float]:
    for _ in range(200):  # warm up (connection, script load)
        await store.acquire()
    timings = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        wait = await store.acquire()
        timings.append((time.perf_counter_ns() - started) / 1000)
        assert wait == 0.0
    return timings


def report(name: str, timings: list[float]) -> None:
    ordered = sorted(timings)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(f"{name:<22} median {statistics.median(ordered):8.1f} us   p99 {p99:8.1f} us")


async def main(url: str, calls: int) -> None:
    local = InMemoryRateLimitStore(CONFIG, SystemClock())
    link = RedisLink(RedisSettings(url, prefix=f"bench{uuid.uuid4().hex[:6]}"), EventBus())
    shared = RedisRateLimitStore(link, CONFIG, "bench", local)
    try:
        report("in-process limiter", await sample(local, calls))
        report("Redis limiter", await sample(shared, calls))
    finally:
        await link.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    server = None
    if args.url is None:
        server = RedisServer()
        server.start()
    try:
        asyncio.run(main(args.url or (server.url if server else ""), args.calls))
    finally:
        if server is not None:
            server.close()
