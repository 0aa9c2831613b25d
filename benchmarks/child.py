"""The client process: runs one scenario and prints what it measured as one JSON line.

Each scenario runs in a fresh process of its own (``python -m benchmarks.child``), so
its CPU time and peak memory are its own and no state (a warm cache, an imported
logging setup, a fragmented heap) carries over from another row.

Modes:

* ``timed``: for each concurrency asked, a warm-up (not measured: connections open,
  caches fill) then ``calls`` measured calls, each for a different user id unless the
  scenario says otherwise. Reported per concurrency: wall time, the process's CPU time
  (``time.process_time``, every thread of the process included), and latency
  percentiles from a ``perf_counter`` around each call.
* ``memory``: ``calls`` calls at one concurrency; the resident set size is read when a
  tenth of them have completed and again at the end, and the process's peak RSS.
* ``single_flight``: ``calls`` identical calls at once with this client's default
  pipeline; the server's request count before and after tells how many requests they
  made.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Final

import aiohttp

from .cpus import pin_from_env
from .scenarios import Call, default_client, scenario
from .server import FIRST_USER_ID

__all__ = ["MemoryResult", "PhaseResult", "SingleFlightResult", "main", "percentile"]

_PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_SINGLE_FLIGHT_USER: Final = 1


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """The measured calls of one scenario at one concurrency."""

    concurrency: int
    calls: int
    wall_s: float
    cpu_s: float
    p50_us: float
    p99_us: float


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """RSS of one scenario over a long run."""

    calls: int
    mark_calls: int
    rss_at_mark_bytes: int
    rss_at_end_bytes: int
    peak_rss_bytes: int


@dataclass(frozen=True, slots=True)
class SingleFlightResult:
    """How many requests ``calls`` identical concurrent calls made."""

    calls: int
    requests: int
    distinct_answers: int


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (``fraction`` in 0..1)."""
    if not sorted_values:
        return float("nan")
    rank = min(max(1, math.ceil(fraction * len(sorted_values))), len(sorted_values))
    return sorted_values[rank - 1]


def current_rss() -> int:
    """The process's resident set size now, in bytes (Linux ``/proc``; else the peak)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except OSError:
        return peak_rss()


def peak_rss() -> int:
    """The process's peak resident set size so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class _Runner:
    """Runs ``calls`` calls with ``concurrency`` workers and times each one."""

    def __init__(self, call: Call, distinct: bool) -> None:
        self._call = call
        self._distinct = distinct
        self._next_user = FIRST_USER_ID

    def _user_ids(self, calls: int) -> range:
        first = self._next_user
        if self._distinct:
            self._next_user += calls
            return range(first, first + calls)
        return range(first, first + 1)

    async def run(
        self, calls: int, concurrency: int, mark: int = 0
    ) -> tuple[list[float], int | None]:
        """Latencies of each call in seconds, and the RSS once ``mark`` calls completed."""
        user_ids = self._user_ids(calls)
        distinct = self._distinct
        latencies = [0.0] * calls
        indexes = iter(range(calls))
        call = self._call
        perf = time.perf_counter
        completed = 0
        rss_at_mark: int | None = None

        async def worker() -> None:
            nonlocal completed, rss_at_mark
            for i in indexes:
                user_id = user_ids[i] if distinct else user_ids[0]
                started = perf()
                await call(user_id)
                latencies[i] = perf() - started
                completed += 1
                if completed == mark:
                    rss_at_mark = current_rss()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, rss_at_mark


async def _timed(
    name: str, base_url: str, calls: int, warmup: int, concurrencies: list[int]
) -> list[PhaseResult]:
    chosen = scenario(name)
    results = []
    async with chosen.open(base_url) as call:
        runner = _Runner(call, chosen.distinct)
        for concurrency in concurrencies:
            await runner.run(max(warmup, concurrency), concurrency)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            latencies, _ = await runner.run(calls, concurrency)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            latencies.sort()
            results.append(
                PhaseResult(
                    concurrency=concurrency,
                    calls=calls,
                    wall_s=wall,
                    cpu_s=cpu,
                    p50_us=percentile(latencies, 0.50) * 1e6,
                    p99_us=percentile(latencies, 0.99) * 1e6,
                )
            )
    return results


async def _memory(name: str, base_url: str, calls: int, concurrency: int) -> MemoryResult:
    chosen = scenario(name)
    mark = max(1, calls // 10)
    async with chosen.open(base_url) as call:
        _, rss_at_mark = await _Runner(call, chosen.distinct).run(calls, concurrency, mark)
        at_end = current_rss()
    return MemoryResult(
        calls=calls,
        mark_calls=mark,
        rss_at_mark_bytes=rss_at_mark if rss_at_mark is not None else at_end,
        rss_at_end_bytes=at_end,
        peak_rss_bytes=peak_rss(),
    )


async def _requests_seen(session: aiohttp.ClientSession, base_url: str) -> int:
    async with session.get(base_url + "_bench/requests") as resp:
        resp.raise_for_status()
        body: dict[str, int] = await resp.json()
        return body["requests"]


async def _single_flight(base_url: str, calls: int) -> SingleFlightResult:
    async with aiohttp.ClientSession() as session, default_client(base_url) as client:
        before = await _requests_seen(session, base_url)
        answers = await asyncio.gather(
            *(client.get_usage_summary(user_id=_SINGLE_FLIGHT_USER) for _ in range(calls))
        )
        after = await _requests_seen(session, base_url)
    distinct = len({json.dumps(a, sort_keys=True) for a in answers})
    return SingleFlightResult(calls=calls, requests=after - before, distinct_answers=distinct)


def main(argv: list[str] | None = None) -> None:
    """Run one measurement and print its result as one JSON object on stdout."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child")
    parser.add_argument("mode", choices=("timed", "memory", "single_flight"))
    parser.add_argument("--url", required=True, help="the server's base URL")
    parser.add_argument("--scenario", default="gbx_warning")
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, action="append")
    args = parser.parse_args(argv)
    pin_from_env()
    concurrencies: list[int] = args.concurrency or [1, 64]
    result: Any
    if args.mode == "timed":
        phases = asyncio.run(
            _timed(args.scenario, args.url, args.calls, args.warmup, concurrencies)
        )
        result = {"phases": [asdict(p) for p in phases], "peak_rss_bytes": peak_rss()}
    elif args.mode == "memory":
        result = asdict(
            asyncio.run(_memory(args.scenario, args.url, args.calls, concurrencies[-1]))
        )
    else:
        result = asdict(asyncio.run(_single_flight(args.url, args.calls)))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
