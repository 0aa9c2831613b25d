"""The rate limiter's cost per call: the in-process store next to the Redis store.

Issue 11 asks for the cost of sharing the rate limit through Redis (the
``geobox-usage-redis`` plugin) to be measured beside the in-process limiter. When
``redis-server`` is on ``PATH`` and ``geobox_usage_redis`` is importable,
:func:`measure_limiter` starts a private ``redis-server`` on a free loopback port and
runs ``python -m benchmarks.limiter`` in a fresh process, which times, for each store:

* one ``acquire()`` that finds a send free (a rate too high ever to wait): the
  in-process store is a few list operations, the Redis store one ``EVALSHA`` round trip;
* one whole call through the client (``get_usage_summary`` against the benchmark
  server, one at a time, cache and circuit breaker off so that the rate limit is the
  only state in Redis, structlog at WARNING), so that the limiter's share of a real
  call shows.

Median and p99 are in microseconds. Without Redis the report says "not measured".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import structlog

from geobox_usage import RateLimitConfig, SystemClock
from geobox_usage.events import EventBus
from geobox_usage.resilience import InMemoryRateLimitStore, RateLimitStore

from .child import percentile
from .scenarios import default_client
from .server import FIRST_USER_ID

__all__ = [
    "CONFIG",
    "LimiterResult",
    "LimiterRow",
    "main",
    "measure_limiter",
    "redis_unavailable",
    "redis_server",
]

CONFIG: Final = RateLimitConfig(rate=1_000_000, period=1.0)
"""A rate too high ever to make a call wait: only the cost of the decision is timed."""

_STORES: Final = ("in-process", "Redis")


@dataclass(frozen=True, slots=True)
class LimiterRow:
    """One measurement: what was timed, and its median and p99 for each store.

    Attributes:
        what: what one sample is (``acquire()``, a whole call).
        p50_us: store name (``"in-process"``, ``"Redis"``) to the median, microseconds.
        p99_us: store name to the 99th percentile, microseconds.
    """

    what: str
    p50_us: dict[str, float]
    p99_us: dict[str, float]


@dataclass(slots=True)
class LimiterResult:
    """The limiter measurement of a run, or why there is none.

    Attributes:
        rows: one per thing timed (empty when not measured).
        calls: samples per store and row.
        skipped: why nothing was measured (``None`` when it was).
    """

    rows: list[LimiterRow] = field(default_factory=list)
    calls: int = 0
    skipped: str | None = None


def redis_unavailable() -> str | None:
    """Why the Redis store cannot be measured here, or ``None`` when it can."""
    if shutil.which("redis-server") is None:
        return "no redis-server"
    if importlib.util.find_spec("geobox_usage_redis") is None:
        return "geobox-usage-redis is not installed"
    return None


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A private ``redis-server`` on a free loopback port, no persistence; its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="geobox-bench-redis-")
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", workdir]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def measure_limiter(
    base_url: str, calls: int, warmup: int, *, enabled: bool = True
) -> LimiterResult:
    """Time both stores in a fresh process (see the module docstring).

    Args:
        base_url: the benchmark server, for the whole-call row.
        calls: samples per store and row.
        warmup: unmeasured samples before each measurement.
        enabled: ``False`` (``--no-redis``) skips the measurement.
    """
    reason = "--no-redis" if not enabled else redis_unavailable()
    if reason is not None:
        return LimiterResult(skipped=reason)
    with redis_server() as redis_url:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.limiter", "--url", base_url,
             "--redis-url", redis_url, "--calls", str(calls), "--warmup", str(warmup)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"the limiter benchmark failed:\n{tail}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    return LimiterResult(rows=[LimiterRow(**row) for row in raw["rows"]], calls=calls)


# ------------------------------------------------------------------ the measuring process


async def _timed(sample: Callable[[int], Awaitable[Any]], calls: int, warmup: int) -> list[float]:
    for i in range(warmup):
        await sample(i)
    timings: list[float] = []
    for i in range(calls):
        started = time.perf_counter_ns()
        await sample(warmup + i)
        timings.append((time.perf_counter_ns() - started) / 1000)
    timings.sort()
    return timings


async def _acquire_row(redis_url: str, calls: int, warmup: int) -> dict[str, list[float]]:
    from geobox_usage_redis import RedisLink, RedisRateLimitStore, RedisSettings

    local = InMemoryRateLimitStore(CONFIG, SystemClock())
    link = RedisLink(RedisSettings(redis_url, prefix=f"bench{uuid.uuid4().hex[:6]}"), EventBus())
    shared = RedisRateLimitStore(
        link, CONFIG, "bench", InMemoryRateLimitStore(CONFIG, SystemClock())
    )

    def acquiring(store: RateLimitStore) -> Callable[[int], Awaitable[Any]]:
        async def sample(_: int) -> None:
            if await store.acquire() != 0.0:
                raise RuntimeError("the benchmark's rate made a call wait")

        return sample

    try:
        return {
            "in-process": await _timed(acquiring(local), calls, warmup),
            "Redis": await _timed(acquiring(shared), calls, warmup),
        }
    finally:
        await link.aclose()


async def _call_row(
    base_url: str, redis_url: str, calls: int, warmup: int
) -> dict[str, list[float]]:
    from geobox_usage_redis import RedisPlugin

    timings: dict[str, list[float]] = {}
    for store in _STORES:
        plugins = [RedisPlugin(redis_url, prefix=f"bench{uuid.uuid4().hex[:6]}")]
        options: dict[str, Any] = {"plugins": plugins} if store == "Redis" else {}
        async with default_client(
            base_url,
            rate_limit=CONFIG,
            cache=None,
            circuit_breaker=None,
            **options,
        ) as client:

            async def sample(i: int) -> None:
                await client.get_usage_summary(user_id=FIRST_USER_ID + i)

            timings[store] = await _timed(sample, calls, warmup)
    return timings


def _row(what: str, timings: dict[str, list[float]]) -> dict[str, Any]:
    return asdict(
        LimiterRow(
            what=what,
            p50_us={store: percentile(values, 0.50) for store, values in timings.items()},
            p99_us={store: percentile(values, 0.99) for store, values in timings.items()},
        )
    )


async def _measure(base_url: str, redis_url: str, calls: int, warmup: int) -> list[dict[str, Any]]:
    return [
        _row("one `acquire()`", await _acquire_row(redis_url, calls, warmup)),
        _row("one whole call (c=1)", await _call_row(base_url, redis_url, calls, warmup)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.limiter --url URL --redis-url URL --calls N --warmup N``:
    print the rows as one line of JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.limiter")
    parser.add_argument("--url", required=True, help="the benchmark server's base URL")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args(argv)
    devnull = open(os.devnull, "w")  # noqa: SIM115 (kept open for the process's life)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(devnull),
        cache_logger_on_first_use=True,
    )
    rows = asyncio.run(_measure(args.url, args.redis_url, args.calls, args.warmup))
    print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
