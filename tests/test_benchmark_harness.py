"""The benchmark harness keeps working: its smallest run reports every row and draws the chart.

No timing is asserted anywhere here (timings belong to the benchmark's own report): these
tests only check that the harness runs end to end, that its report has every row and
every target, and that a missed target is shown as a failure rather than hidden.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from benchmarks.child import MemoryResult, PhaseResult, SingleFlightResult
from benchmarks.instructions import (
    InstructionCountError,
    InstructionResult,
    InstructionRow,
    count_instructions,
    measure_instructions,
    per_call,
    read_total,
)
from benchmarks.limiter import LimiterResult, LimiterRow, redis_unavailable
from benchmarks.report import RunResults, render_markdown, render_svg, targets
from benchmarks.run import ROOT, parse_args, run_child, skipped_instructions, start_server
from benchmarks.scenarios import SCENARIOS

from geobox_usage import AsyncGeoboxClient
from geobox_usage.testing import (
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    DEMO_USER_ID,
    SimulatedGeobox,
)

GOALS = (
    "floor, WARNING: client CPU per call",
    "floor, INFO: client CPU per call",
    "floor, WARNING: instructions per call",
    "floor, INFO: instructions per call",
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
         "--no-instructions", "--results-dir", str(tmp_path), "--chart", str(chart)],
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
    assert (
        "Instructions per call (cachegrind, concurrency 64): not measured (--no-instructions)."
        in report
    )
    saved = json.loads((tmp_path / "latest.json").read_text())
    assert saved["results"]["instructions"]["skipped"] == "--no-instructions"
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
        "sdk_warning": (700.0, 140.0, 330.0),
        "sdk_info": (600.0, 160.0, 340.0),
    }
    for name, (rate, cpu, p50) in rows.items():
        results.add_timed(name, [_phase(1, rate, cpu, p50), _phase(64, rate, cpu, p50)], 40_000)
    results.single_flight = SingleFlightResult(calls=1000, requests=1, distinct_answers=1)
    results.instructions = InstructionResult(
        rows=[
            InstructionRow(name, per_call)
            for name, per_call in (
                ("raw", 400_000.0),
                ("sdk_warning", 530_000.0),
                ("sdk_info", 640_000.0),
                ("gbx_warning", 500_000.0),
                ("gbx_info", 630_000.0),
            )
        ]
    )
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


def test_the_floor_fails_when_this_client_costs_more_than_the_sdk_at_its_level() -> None:
    results = _results(950.0)
    del results.timed["sdk_info"]  # the SDK at INFO now costs less CPU than this client
    results.add_timed("sdk_info", [_phase(c, 600.0, 110.0, 340.0) for c in (1, 64)], 1)
    assert results.instructions is not None
    results.instructions.rows[2] = InstructionRow("sdk_info", 620_000.0)

    found = {t.goal: t for t in targets(results)}
    cpu = found["floor, INFO: client CPU per call at c=64 ≤ the official SDK's at INFO"]
    instructions = found["floor, INFO: instructions per call ≤ the official SDK's at INFO"]

    assert cpu.passed is False and cpu.measured == "1.09x (120.0 vs 110.0 µs)"
    assert instructions.passed is False
    assert instructions.measured == "1.02x (630.0k vs 620.0k)"
    assert found["floor, WARNING: instructions per call ≤ the official SDK's at WARNING"].passed


def test_the_instructions_floor_is_not_measured_without_instruction_counts() -> None:
    results = _results(950.0)
    results.instructions = InstructionResult(skipped="--no-instructions")

    found = {t.goal: t for t in targets(results)}

    for level in ("WARNING", "INFO"):
        floor = found[f"floor, {level}: instructions per call ≤ the official SDK's at {level}"]
        assert (floor.passed, floor.measured) == (None, "not measured in this run")


def test_a_missed_target_is_reported_as_a_failure_with_its_measured_value() -> None:
    results = _results(500.0)
    results.single_flight = None
    for sdk in ("sdk_warning", "sdk_info"):  # rows that did not run
        del results.timed[sdk], results.peak_rss[sdk]

    found = {t.goal: t for t in targets(results)}
    throughput = found["WARNING: throughput at c=64 ≥ 0.90x raw aiohttp"]
    report = render_markdown(results)

    assert throughput.passed is False
    assert throughput.measured == "0.50x (500 vs 1,000 calls/s)"
    assert found["1,000 identical concurrent calls make one request"].passed is None
    floor = found["floor, WARNING: client CPU per call at c=64 ≤ the official SDK's at WARNING"]
    assert (floor.passed, floor.measured) == (None, "not measured in this run")
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


# ------------------------------------------------------------ instructions per call


CACHEGRIND_OUT = """\
desc: I1 cache:         32768 B, 64 B, 8-way associative
cmd: python -m benchmarks.child timed --calls 800
events: Ir
fl=/usr/lib/python3.11/ceval.c
fn=_PyEval_EvalFrameDefault
12 345
summary: 1234567890
"""


def test_the_per_call_figure_is_the_difference_of_two_runs_over_their_calls() -> None:
    assert per_call([1_000_000_000, 1_640_000_000], [800, 2400]) == 400_000.0
    with pytest.raises(ValueError) as same:
        per_call([1, 2], [800, 800])
    assert "must differ in calls, both have 800" in str(same.value)


def test_the_instruction_total_is_read_from_the_summary_line(tmp_path: Path) -> None:
    out = tmp_path / "cachegrind.out"
    out.write_text(CACHEGRIND_OUT)
    assert read_total(out.read_text()) == 1_234_567_890
    several = CACHEGRIND_OUT.replace("events: Ir", "events: Ir I1mr ILmr").replace(
        "summary: 1234567890", "summary: 99 7 3"
    )
    assert read_total(several) == 99
    assert read_total(several, "I1mr") == 7


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (CACHEGRIND_OUT.replace("summary: 1234567890\n", ""), "no summary: line"),
        (CACHEGRIND_OUT.replace("summary: 1234567890", "summary:"), "without a count of Ir"),
        (CACHEGRIND_OUT.replace("1234567890", "12x"), "without a count of Ir"),
        (CACHEGRIND_OUT.replace("events: Ir", "events: Dr"), "counted ['Dr'], not Ir"),
    ],
)
def test_an_output_without_a_count_is_a_clear_error(text: str, reason: str) -> None:
    with pytest.raises(InstructionCountError) as error:
        read_total(text)
    assert reason in str(error.value)


def _instruction_rows(results: RunResults) -> list[str]:
    report = render_markdown(results)
    start = report.index("Instructions per call (cachegrind")
    return report[start:].split("\n\nRate limiter")[0].split("\n\nTargets")[0].splitlines()


def test_the_instructions_table_gives_thousands_and_the_ratio_to_raw_aiohttp() -> None:
    results = _results(950.0)
    results.instructions = InstructionResult(
        rows=[
            InstructionRow("raw", 409_312.5, [1, 2]),
            InstructionRow("gbx_warning", 536_100.0, [3, 4]),
            InstructionRow("gbx_info", None, failed="2,400 calls: exit code 1: Boom | x"),
        ]
    )
    report = render_markdown(results)
    table = _instruction_rows(results)

    assert table[0] == "Instructions per call (cachegrind, concurrency 64):"
    assert "| raw aiohttp | 409.3k | 1.00x |" in table
    warning = next(s.label for s in SCENARIOS if s.name == "gbx_warning")
    assert f"| {warning} | 536.1k | 1.31x |" in table
    info = next(s.label for s in SCENARIOS if s.name == "gbx_info")
    assert f"| {info} | failed: 2,400 calls: exit code 1: Boom \\| x | |" in table
    assert any("not a replacement" in line and "under ~1%" in line for line in table)
    # after the memory table, before the targets
    assert report.index("Memory over") < report.index("Instructions per call")
    assert report.index("Instructions per call") < report.index("Targets (issue 10)")


def test_the_instructions_table_says_why_it_was_not_measured() -> None:
    results = _results(950.0)
    results.instructions = InstructionResult(skipped="valgrind not found")
    assert (
        "Instructions per call (cachegrind, concurrency 64): not measured (valgrind not found)."
        in render_markdown(results)
    )


def test_without_raw_aiohttp_the_ratio_is_left_blank() -> None:
    results = _results(950.0)
    results.instructions = InstructionResult(rows=[InstructionRow("gbx_warning", 536_100.0)])
    assert any(line.endswith("| 536.1k |  |") for line in _instruction_rows(results))


@pytest.mark.parametrize(
    ("argv", "skip"),
    [([], None), (["--quick"], "--quick"), (["--no-instructions", "--quick"], "--no-instructions")],
)
def test_quick_runs_and_no_instructions_leave_the_counts_out(
    argv: list[str], skip: str | None
) -> None:
    assert skipped_instructions(parse_args(argv)) == skip


def test_a_skip_asked_for_is_reported_and_runs_nothing() -> None:
    found = measure_instructions("http://127.0.0.1:9/", ["raw"], skip="--quick")
    assert (found.skipped, found.rows) == ("--quick", [])


def test_a_failed_run_gives_its_row_a_reason_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stand-in ``valgrind`` on PATH: it fails for one scenario, writes output for others."""
    fake = tmp_path / "valgrind"
    fake.write_text(
        "#!/bin/sh\n"
        'out=""; calls=""\n'
        'for a in "$@"; do\n'
        '  case "$a" in --cachegrind-out-file=*) out="${a#*=}";; esac\n'
        '  case "$prev" in --calls) calls="$a";; --scenario) scen="$a";; esac\n'
        '  prev="$a"\n'
        "done\n"
        'if [ "$scen" = broken ]; then echo "==1== noise" >&2; echo "KeyError: broken" >&2;'
        " exit 1; fi\n"
        'if [ "$scen" = silent ]; then exit 0; fi\n'
        'printf "events: Ir\\nsummary: %s\\n" $((1000000 + calls * 400000)) > "$out"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    lines: list[str] = []

    found = measure_instructions(
        "http://127.0.0.1:9/", ["raw", "broken", "silent"], progress=lines.append
    )

    assert found.skipped is None
    raw, broken, silent = found.rows
    assert (raw.per_call, raw.totals, raw.failed) == (
        400_000.0, [1_000_000 + 800 * 400_000, 1_000_000 + 2400 * 400_000], None
    )  # fmt: skip
    assert (broken.per_call, broken.failed) == (None, "800 calls: exit code 1: KeyError: broken")
    assert (silent.per_call, silent.failed) == (None, "800 calls: cachegrind wrote no output")
    assert len(lines) == 3 and "400.0k per call" in lines[0] and "failed: 800" in lines[1]
    assert list(scratch.iterdir()) == []  # every output file removed


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not on PATH")
def test_real_cachegrind_counts_more_instructions_for_more_work() -> None:
    python = str(Path(sys.executable).resolve())
    idle = count_instructions([python, "-S", "-c", "pass"])
    busy = count_instructions([python, "-S", "-c", "for i in range(200_000): pass"])

    assert 1_000_000 < idle < busy
    assert busy - idle > 200_000 * 5  # a few instructions per loop turn at least


# -- the fused-pipeline experiment --------------------------------------------------------


async def test_the_fused_experiment_answers_as_the_pipeline_does(
    sim: SimulatedGeobox, make_client: Callable[..., AsyncGeoboxClient]
) -> None:
    from benchmarks.fused_experiment import fused_send

    client = make_client()
    expected = await client.get_usage_summary(user_id=DEMO_USER_ID)
    sent = len(sim.requests)
    client._send = fused_send(client)  # type: ignore[method-assign]
    assert await client.get_usage_summary(user_id=DEMO_USER_ID) == expected
    assert len(sim.requests) == sent + 1
    assert sim.requests[-1].header("Authorization") == f"Bearer {DEMO_ACCESS_TOKEN}"


async def test_the_fused_experiment_refuses_what_it_does_not_implement(
    make_client: Callable[..., AsyncGeoboxClient],
) -> None:
    from benchmarks.fused_experiment import FusedPathUnsupported, fused_send

    with pytest.raises(FusedPathUnsupported, match="not the default pipeline"):
        fused_send(make_client(rate_limit=None))
    with pytest.raises(FusedPathUnsupported, match="only a bearer token"):
        fused_send(make_client(apikey=DEMO_API_KEY))
    client = make_client()
    client._send = fused_send(client)  # type: ignore[method-assign]
    with pytest.raises(FusedPathUnsupported, match="only reads"):
        await client.update_usage()
