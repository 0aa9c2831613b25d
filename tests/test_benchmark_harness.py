"""The benchmark harness keeps working: its smallest run reports every row and draws the chart.

No timing is asserted anywhere here (timings belong to the benchmark's own report): these
tests only check that the harness runs end to end, that its report has every row and
every target, and that a missed target is shown as a failure rather than hidden.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.child import MemoryResult, PhaseResult, SingleFlightResult
from benchmarks.limiter import LimiterResult, LimiterRow, redis_unavailable
from benchmarks.report import RunResults, render_markdown, render_svg, targets
from benchmarks.run import ROOT, run_child, start_server
from benchmarks.scenarios import SCENARIOS

GOALS = (
    "WARNING: throughput",
    "WARNING: client CPU per call",
    "INFO: throughput",
    "added latency per call at p50",
    "a cache hit costs",
    "1,000 identical concurrent calls make one request",
    "memory growth from call",
)


def test_smallest_run_reports_every_row_and_every_target_and_draws_the_chart(
    tmp_path: Path,
) -> None:
    chart = tmp_path / "chart.svg"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--calls", "20", "--rounds", "1",
         "--warmup", "2", "--memory-calls", "0", "--concurrency", "1", "4",
         "--results-dir", str(tmp_path), "--chart", str(chart)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    report = (tmp_path / "latest.md").read_text()
    assert report.strip() == done.stdout.strip()
    table_rows = [line for line in report.splitlines() if line.startswith("| ")]
    for scenario in SCENARIOS:
        assert any(row.startswith(f"| {scenario.label} | ") for row in table_rows), scenario
    for goal in GOALS:
        assert any(goal in row for row in table_rows), goal
    limiter = [line for line in report.splitlines() if line.startswith("Rate limiter cost")]
    assert len(limiter) == 1
    if redis_unavailable() is None:
        assert any(row.startswith("| one `acquire()` | ") for row in table_rows)
    else:
        assert "not measured" in limiter[0]
    assert (tmp_path / "latest.json").is_file()
    svg = chart.read_text()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    for scenario in SCENARIOS:
        assert scenario.label in svg


def test_memory_run_reads_rss_at_a_tenth_of_the_calls_and_at_the_end() -> None:
    with start_server() as url:
        out = run_child(
            ["memory", "--url", url, "--scenario", "gbx_info", "--calls", "50",
             "--concurrency", "4"]
        )  # fmt: skip

    memory = MemoryResult(**out)
    assert (memory.calls, memory.mark_calls) == (50, 5)
    assert 0 < memory.rss_at_mark_bytes <= memory.peak_rss_bytes
    assert 0 < memory.rss_at_end_bytes <= memory.peak_rss_bytes


def _phase(concurrency: int, calls_per_s: float, cpu_us: float, p50_us: float) -> PhaseResult:
    return PhaseResult(
        concurrency=concurrency,
        calls=1000,
        wall_s=1000 / calls_per_s,
        cpu_s=cpu_us * 1000 / 1e6,
        p50_us=p50_us,
        p99_us=p50_us * 2,
    )


def _results(warning_calls_per_s: float) -> RunResults:
    results = RunResults(
        labels={s.name: s.label for s in SCENARIOS},
        concurrencies=[1, 64],
        calls=1000,
        rounds=1,
        server="test",
        machine="test",
    )
    rows = {
        "raw": (1000.0, 100.0, 300.0),
        "raw_log": (900.0, 110.0, 310.0),
        "gbx_warning": (warning_calls_per_s, 105.0, 310.0),
        "gbx_info": (850.0, 120.0, 320.0),
        "gbx_cache_hit": (50_000.0, 10.0, 12.0),
    }
    for name, (rate, cpu, p50) in rows.items():
        results.add_timed(name, [_phase(1, rate, cpu, p50), _phase(64, rate, cpu, p50)], 40_000)
    results.single_flight = SingleFlightResult(calls=1000, requests=1, distinct_answers=1)
    results.memory["gbx_warning"] = MemoryResult(
        calls=100_000,
        mark_calls=10_000,
        rss_at_mark_bytes=50_000_000,
        rss_at_end_bytes=51_000_000,
        peak_rss_bytes=51_000_000,
    )
    return results


def test_every_target_passes_when_every_one_is_met() -> None:
    found = targets(_results(950.0))

    assert [t.passed for t in found] == [True] * len(GOALS)
    assert all(goal in t.goal for goal, t in zip(GOALS, found, strict=True))


def test_a_missed_target_is_reported_as_a_failure_with_its_measured_value() -> None:
    results = _results(500.0)
    results.single_flight = None

    found = {t.goal: t for t in targets(results)}
    throughput = found["WARNING: throughput at c=64 ≥ 0.90x raw aiohttp"]
    report = render_markdown(results)

    assert throughput.passed is False
    assert throughput.measured == "0.50x (500 vs 1,000 calls/s)"
    assert found["1,000 identical concurrent calls make one request"].passed is None
    assert "| 0.50x (500 vs 1,000 calls/s) | **FAIL** |" in report
    assert "| not measured in this run | not measured |" in report
    assert "official SDK" not in render_svg(results)  # rows that did not run are not drawn


def test_the_limiter_table_shows_both_stores_side_by_side() -> None:
    results = _results(9000.0)
    results.limiter = LimiterResult(
        rows=[
            LimiterRow(
                "one `acquire()`",
                {"in-process": 0.4, "Redis": 150.0},
                {"in-process": 0.7, "Redis": 1234.5},
            )
        ],
        calls=500,
    )
    report = render_markdown(results)
    assert "Rate limiter cost per call" in report and "500 samples each" in report
    assert "| µs | in-process p50 | in-process p99 | Redis p50 | Redis p99 |" in report
    assert "| one `acquire()` | 0.4 | 0.7 | 150.0 | 1,234.5 |" in report


def test_the_limiter_table_says_why_it_was_not_measured() -> None:
    results = _results(9000.0)
    results.limiter = LimiterResult(skipped="no redis-server")
    report = render_markdown(results)
    assert (
        "Rate limiter cost per call, in-process store and Redis store (issue 11): "
        "not measured (no redis-server)." in report
    )


async def test_the_minimal_server_answers_the_contract_and_counts_requests() -> None:
    import asyncio

    import aiohttp
    from benchmarks.server import BENCH_TOKEN, MinimalProtocol

    counter = [0]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: MinimalProtocol(counter), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    bearer = {"Authorization": f"Bearer {BENCH_TOKEN}", "X-Request-ID": "rid-1"}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/v1/usage/summary?user_id=1234", headers=bearer) as r:
                assert r.status == 200 and r.headers["X-Request-ID"] == "rid-1"
                summary = await r.json()
            assert summary["user_id"] == 1234 and "max_daily_api_calls" in summary
            async with session.get(f"{base}/v1/usage/summary") as r:
                assert r.status == 401
            async with session.get(f"{base}/v1/usage/summary?user_id=x", headers=bearer) as r:
                assert r.status == 422
            async with session.post(f"{base}/v1/usage/update", data=b"{}", headers=bearer) as r:
                assert r.status == 404
            async with session.get(f"{base}/_bench/requests") as r:
                assert await r.json() == {"requests": 4}
    finally:
        server.close()
