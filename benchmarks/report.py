"""Medians across rounds, the Markdown report with its targets, and the chart.

Everything here is pure: it takes what the client processes measured and returns text
(Markdown, SVG), so it can be checked without running a benchmark.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Final

from .child import MemoryResult, PhaseResult, SingleFlightResult
from .instructions import InstructionResult
from .limiter import LimiterResult

__all__ = [
    "MB",
    "Aggregate",
    "RunResults",
    "Target",
    "aggregate",
    "render_markdown",
    "render_svg",
    "targets",
]

MB: Final = 1_000_000
"""Memory is reported in megabytes of 10**6 bytes, as the targets are written."""

_RAW: Final = "raw"
_RAW_LOG: Final = "raw_log"
_WARNING: Final = "gbx_warning"
_INFO: Final = "gbx_info"
_CACHE_HIT: Final = "gbx_cache_hit"
_SDK_WARNING: Final = "sdk_warning"
_SDK_INFO: Final = "sdk_info"
_OURS: Final = (_WARNING, _INFO, _CACHE_HIT)


@dataclass(slots=True)
class RunResults:
    """Everything one harness run measured.

    Attributes:
        labels: scenario name to its row label, in the order of the rows.
        concurrencies: the concurrencies measured, lowest first.
        calls: measured calls per scenario, concurrency and round.
        rounds: how many alternating rounds ran.
        server: the server kind.
        machine: a one-line description of the machine.
        timed: scenario name to concurrency to one result per round.
        peak_rss: scenario name to the peak RSS (bytes) of each round's process.
        memory: scenario name to its long memory run, if one ran.
        single_flight: the identical-calls check, if it ran.
        instructions: each client's instructions per call under cachegrind, if it ran.
        limiter: the rate limiter's cost, in-process and Redis, if it ran.
        notes: free lines shown under the tables (load average, noise).
    """

    labels: dict[str, str]
    concurrencies: list[int]
    calls: int
    rounds: int
    server: str
    machine: str
    timed: dict[str, dict[int, list[PhaseResult]]] = field(default_factory=dict)
    peak_rss: dict[str, list[int]] = field(default_factory=dict)
    memory: dict[str, MemoryResult] = field(default_factory=dict)
    single_flight: SingleFlightResult | None = None
    instructions: InstructionResult | None = None
    limiter: LimiterResult | None = None
    notes: list[str] = field(default_factory=list)

    def add_timed(self, name: str, phases: Sequence[PhaseResult], peak_rss: int) -> None:
        """Record one round of one scenario."""
        for phase in phases:
            self.timed.setdefault(name, {}).setdefault(phase.concurrency, []).append(phase)
        self.peak_rss.setdefault(name, []).append(peak_rss)


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Medians across rounds of one scenario at one concurrency.

    Attributes:
        throughput: calls per second (calls over wall time).
        cpu_us: client CPU time per call, in microseconds.
        p50_us: median latency of one call, in microseconds.
        p99_us: 99th percentile latency of one call, in microseconds.
        spread: (max - min) / median of the throughput across rounds (0 for one round).
    """

    throughput: float
    cpu_us: float
    p50_us: float
    p99_us: float
    spread: float


def aggregate(phases: Sequence[PhaseResult]) -> Aggregate:
    """The medians of one scenario's rounds at one concurrency (each metric on its own)."""
    throughputs = [p.calls / p.wall_s for p in phases]
    median = statistics.median(throughputs)
    return Aggregate(
        throughput=median,
        cpu_us=statistics.median(p.cpu_s / p.calls * 1e6 for p in phases),
        p50_us=statistics.median(p.p50_us for p in phases),
        p99_us=statistics.median(p.p99_us for p in phases),
        spread=(max(throughputs) - min(throughputs)) / median if median else 0.0,
    )


@dataclass(frozen=True, slots=True)
class Target:
    """One goal of issue 10 and how this run did against it.

    Attributes:
        goal: what is asked.
        measured: the measured value, with what it was compared to.
        passed: ``True``/``False``, or ``None`` when this run did not measure it.
    """

    goal: str
    measured: str
    passed: bool | None


def _stats(results: RunResults) -> dict[str, dict[int, Aggregate]]:
    return {
        name: {c: aggregate(phases) for c, phases in by_c.items()}
        for name, by_c in results.timed.items()
    }


_FLOORS: Final = ((_WARNING, _SDK_WARNING, "WARNING"), (_INFO, _SDK_INFO, "INFO"))
"""The floor issue 10 sets: this client's row, the official SDK's at the same level."""

_FLOOR_TARGETS: Final = tuple(
    (row, sdk, "cpu_us", 1.0, f"floor, {level}: client CPU per call at c={{c}} ≤ the "
     f"official SDK's at {level}")
    for row, sdk, level in _FLOORS
)  # fmt: skip
"""The floor in CPU time: ahead of the official SDK at the same log level, same run."""


def _instructions_floor(results: RunResults, row: str, sdk: str, level: str) -> Target:
    """The floor in instructions per call (cachegrind), when this run counted them."""
    goal = f"floor, {level}: instructions per call ≤ the official SDK's at {level}"
    found = results.instructions
    by_name = {r.scenario: r.per_call for r in found.rows} if found is not None else {}
    ours, theirs = by_name.get(row), by_name.get(sdk)
    if ours is None or theirs is None:
        return Target(goal, "not measured in this run", None)
    detail = f"{ours / theirs:.2f}x ({ours / 1000:,.1f}k vs {theirs / 1000:,.1f}k)"
    return Target(goal, detail, ours <= theirs)


_RATIO_TARGETS: Final = (
    (_WARNING, _RAW, "throughput", 0.90, "WARNING: throughput at c={c} ≥ 0.90x raw aiohttp"),
    (_WARNING, _RAW, "cpu_us", 1.15, "WARNING: client CPU per call at c={c} ≤ 1.15x raw aiohttp"),
    (
        _INFO,
        _RAW_LOG,
        "throughput",
        0.90,
        "INFO: throughput at c={c} ≥ 0.90x raw aiohttp + 1 JSON line",
    ),
)
"""The targets that compare a row with a reference row: row, reference, metric, limit,
goal. A throughput must reach the limit; a CPU cost must stay under it."""


def _ratio_target(
    stats: Mapping[str, Mapping[int, Aggregate]],
    row: str,
    base: str,
    concurrency: int,
    metric: str,
    limit: float,
    goal: str,
) -> Target:
    if row not in stats or base not in stats:
        return Target(goal, "not measured in this run", None)
    value = getattr(stats[row][concurrency], metric)
    reference = getattr(stats[base][concurrency], metric)
    ratio = value / reference
    if metric == "throughput":
        detail = f"{ratio:.2f}x ({value:,.0f} vs {reference:,.0f} calls/s)"
        return Target(goal, detail, ratio >= limit)
    detail = f"{ratio:.2f}x ({value:,.1f} vs {reference:,.1f} µs)"
    return Target(goal, detail, ratio <= limit)


def targets(results: RunResults) -> list[Target]:
    """The targets of issue 10, each with this run's measured value and pass or fail."""
    stats = _stats(results)
    low, high = results.concurrencies[0], results.concurrencies[-1]
    found = [
        _ratio_target(stats, row, base, high, metric, limit, goal.format(c=high))
        for row, base, metric, limit, goal in _FLOOR_TARGETS
    ]
    found += [_instructions_floor(results, row, sdk, level) for row, sdk, level in _FLOORS]
    found += [
        _ratio_target(stats, row, base, high, metric, limit, goal.format(c=high))
        for row, base, metric, limit, goal in _RATIO_TARGETS
    ]
    goal = f"c={low}: added latency per call at p50 < 15 µs (WARNING vs raw aiohttp)"
    if _WARNING in stats and _RAW in stats:
        added = stats[_WARNING][low].p50_us - stats[_RAW][low].p50_us
        detail = (
            f"{added:+,.1f} µs ({stats[_WARNING][low].p50_us:,.1f} vs "
            f"{stats[_RAW][low].p50_us:,.1f} µs)"
        )
        found.append(Target(goal, detail, added < 15.0))
    else:
        found.append(Target(goal, "not measured in this run", None))
    goal = f"a cache hit costs < 15 µs of client CPU (c={low})"
    if _CACHE_HIT in stats:
        cpu = stats[_CACHE_HIT][low].cpu_us
        found.append(Target(goal, f"{cpu:,.1f} µs", cpu < 15.0))
    else:
        found.append(Target(goal, "not measured in this run", None))
    flight = results.single_flight
    goal = "1,000 identical concurrent calls make one request"
    if flight is None:
        found.append(Target(goal, "not measured in this run", None))
    else:
        detail = f"{flight.requests} request(s) for {flight.calls:,} calls"
        found.append(Target(goal, detail, flight.requests == 1))
    found.append(_memory_target(results))
    return found


def _memory_target(results: RunResults) -> Target:
    ours = [(name, results.memory[name]) for name in _OURS if name in results.memory]
    if not ours:
        return Target("memory growth from call 10,000 to 100,000 < 5 MB", "not measured", None)
    first = ours[0][1]
    goal = f"memory growth from call {first.mark_calls:,} to {first.calls:,} < 5 MB"
    name, worst = max(ours, key=lambda item: item[1].rss_at_end_bytes - item[1].rss_at_mark_bytes)
    growth = (worst.rss_at_end_bytes - worst.rss_at_mark_bytes) / MB
    detail = f"{growth:+.1f} MB (worst of this client's rows: {results.labels[name]})"
    return Target(goal, detail, growth < 5.0)


def _ratio(value: float, reference: Aggregate | None, metric: str) -> str:
    """`` (0.42x)``: ``value`` over the reference's ``metric``; empty without a reference."""
    if reference is None:
        return ""
    base: float = getattr(reference, metric)
    return f" ({value / base:.2f}x)" if base else ""


def _peak_rss_mb(results: RunResults, name: str) -> float:
    if name in results.memory:
        return results.memory[name].peak_rss_bytes / MB
    return statistics.median(results.peak_rss[name]) / MB


def _main_table(results: RunResults, stats: Mapping[str, Mapping[int, Aggregate]]) -> list[str]:
    low, high = results.concurrencies[0], results.concurrencies[-1]
    memory_calls = next(iter(results.memory.values())).calls if results.memory else None
    rss_head = (
        f"peak RSS MB ({memory_calls:,} calls)" if memory_calls else "peak RSS MB (timed run)"
    )
    head = ["client"]
    for c in (low, high):
        head += [f"calls/s c={c}", f"CPU µs/call c={c}", f"p50 / p99 µs c={c}"]
    head += [rss_head, f"round spread c={high}"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    raw = stats.get(_RAW)
    for name, label in results.labels.items():
        if name not in stats:
            continue
        row = [label]
        for c in (low, high):
            s = stats[name][c]
            base = raw[c] if raw else None
            row.append(f"{s.throughput:,.0f}" + _ratio(s.throughput, base, "throughput"))
            row.append(f"{s.cpu_us:,.1f}" + _ratio(s.cpu_us, base, "cpu_us"))
            row.append(f"{s.p50_us:,.0f} / {s.p99_us:,.0f}")
        rss = _peak_rss_mb(results, name)
        raw_rss = f" ({rss / _peak_rss_mb(results, _RAW):.2f}x)" if raw else ""
        row.append(f"{rss:,.1f}{raw_rss}")
        row.append(f"±{stats[name][high].spread * 50:.0f}%")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _memory_table(results: RunResults) -> list[str]:
    if not results.memory:
        return []
    first = next(iter(results.memory.values()))
    lines = [
        "",
        f"Memory over {first.calls:,} distinct calls at c={results.concurrencies[-1]}, "
        "one fresh process per client:",
        "",
        f"| client | RSS at call {first.mark_calls:,} MB | RSS at call {first.calls:,} MB "
        "| growth MB | peak RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in results.labels.items():
        m = results.memory.get(name)
        if m is None:
            continue
        growth = (m.rss_at_end_bytes - m.rss_at_mark_bytes) / MB
        lines.append(
            f"| {label} | {m.rss_at_mark_bytes / MB:,.1f} | {m.rss_at_end_bytes / MB:,.1f} "
            f"| {growth:+,.1f} | {m.peak_rss_bytes / MB:,.1f} |"
        )
    return lines


def _instructions_table(results: RunResults) -> list[str]:
    """Each client's instructions per call under cachegrind, and the ratio to raw aiohttp."""
    found = results.instructions
    if found is None:
        return []
    title = f"Instructions per call (cachegrind, concurrency {found.concurrency})"
    if found.skipped is not None or not found.rows:
        return ["", f"{title}: not measured ({found.skipped or 'no rows'})."]
    low, high = found.calls
    lines = [
        "",
        f"{title}:",
        "",
        "| client | instructions per call | x raw aiohttp |",
        "|---|---:|---:|",
    ]
    by_name = {row.scenario: row for row in found.rows}
    raw = by_name.get(_RAW)
    base = raw.per_call if raw is not None else None
    for row in found.rows:
        label = results.labels.get(row.scenario, row.scenario)
        if row.per_call is None:
            reason = (row.failed or "no figure").replace("|", "\\|")
            lines.append(f"| {label} | failed: {reason} | |")
            continue
        ratio = f"{row.per_call / base:.2f}x" if base else ""
        lines.append(f"| {label} | {row.per_call / 1000:,.1f}k | {ratio} |")
    lines += [
        "",
        "The client process's user-space instructions (cachegrind's `Ir`) of a run of "
        f"{high:,} calls less those of a run of {low:,}, over the {high - low:,} calls "
        "between them, so start-up, imports and warm-up cancel out. No kernel time, no "
        "cache misses: a noise-free cross-check of the CPU column, not a replacement. "
        "Differences under ~1% are not significant.",
    ]
    return lines


def _limiter_table(results: RunResults) -> list[str]:
    """The rate limiter's cost per call, the in-process store beside the Redis one."""
    limiter = results.limiter
    if limiter is None:
        return []
    title = "Rate limiter cost per call, in-process store and Redis store (issue 11)"
    if limiter.skipped is not None or not limiter.rows:
        return ["", f"{title}: not measured ({limiter.skipped or 'no rows'})."]
    lines = [
        "",
        f"{title}: {limiter.calls:,} samples each; the Redis store is "
        "`geobox-usage-redis` against a local redis-server (one `EVALSHA` per decision). "
        "Whole calls run one at a time with the cache and the breaker off.",
        "",
        "| µs | in-process p50 | in-process p99 | Redis p50 | Redis p99 |",
        "|---|---|---|---|---|",
    ]
    for row in limiter.rows:
        cells = [f"{stat[store]:,.1f}" for store in ("in-process", "Redis")
                 for stat in (row.p50_us, row.p99_us)]  # fmt: skip
        lines.append(f"| {row.what} | " + " | ".join(cells) + " |")
    return lines


def _verdict(passed: bool | None) -> str:
    return "not measured" if passed is None else "**pass**" if passed else "**FAIL**"


def render_markdown(results: RunResults) -> str:
    """The report: settings, the table with ratios to raw aiohttp, memory, targets."""
    stats = _stats(results)
    high = results.concurrencies[-1]
    lines = [
        f"Machine: {results.machine}. Server: {results.server}, in its own process, on "
        f"loopback. {results.calls:,} calls per client and concurrency, each for a "
        f"different `user_id` (except the cache-hit row); medians of {results.rounds} "
        f"alternating round(s), one fresh client process per client and round.",
        "",
        "Ratios in parentheses are to raw aiohttp at the same concurrency. CPU is the "
        "client process's CPU time over the measured calls, divided by their number. "
        f"Round spread is half the range of the c={high} throughput across rounds, over "
        "its median: the run's noise.",
        "",
        *_main_table(results, stats),
        *_memory_table(results),
        *_instructions_table(results),
        *_limiter_table(results),
        "",
        "Targets (issue 10):",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    lines += [f"| {t.goal} | {t.measured} | {_verdict(t.passed)} |" for t in targets(results)]
    if results.notes:
        lines += ["", *(f"- {note}" for note in results.notes)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- chart

_CHART_WIDTH: Final = 900
_LABEL_WIDTH: Final = 330
_BAR_WIDTH: Final = 470
_ROW_HEIGHT: Final = 24
_PANEL_GAP: Final = 56
_AXIS_MAX: Final = 3.0


def _panel(
    top: int,
    title: str,
    rows: Sequence[tuple[str, float]],
    target: float,
) -> tuple[list[str], int]:
    scale = _BAR_WIDTH / _AXIS_MAX
    x0 = _LABEL_WIDTH
    parts = [
        f'<text x="10" y="{top + 16}" font-size="15" font-weight="bold">{escape(title)}</text>'
    ]
    y = top + 30
    bottom = y + len(rows) * _ROW_HEIGHT
    for value, dash, colour in ((1.0, "", "#333"), (target, "5,4", "#d62728")):
        x = x0 + value * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top + 26}" x2="{x:.1f}" y2="{bottom + 2}" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="{dash}"/>'
        )
    for label, ratio in rows:
        width = min(ratio, _AXIS_MAX) * scale
        clipped = ratio > _AXIS_MAX
        parts.append(
            f'<text x="{x0 - 8}" y="{y + 16}" font-size="13" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        colour = "#4c78a8" if label.startswith("geobox-usage") else "#9d9d9d"
        parts.append(
            f'<rect x="{x0}" y="{y + 4}" width="{width:.1f}" height="{_ROW_HEIGHT - 8}" '
            f'fill="{colour}"/>'
        )
        text = f"{ratio:.2f}x" + (" →" if clipped else "")
        text_x = x0 + width + 6 if not clipped else x0 + width - 6
        anchor = "start" if not clipped else "end"
        fill = "#000" if not clipped else "#fff"
        parts.append(
            f'<text x="{text_x:.1f}" y="{y + 16}" font-size="12" text-anchor="{anchor}" '
            f'fill="{fill}">{text}</text>'
        )
        y += _ROW_HEIGHT
    for tick in range(int(_AXIS_MAX) + 1):
        parts.append(
            f'<text x="{x0 + tick * scale:.1f}" y="{y + 16}" font-size="11" '
            f'text-anchor="middle" fill="#555">{tick}x</text>'
        )
    return parts, y + 24


def render_svg(results: RunResults) -> str:
    """A two-panel bar chart: throughput and client CPU per call, as ratios to raw aiohttp.

    Both at the highest concurrency measured. Bars beyond 3x are clipped and marked.
    """
    stats = _stats(results)
    high = results.concurrencies[-1]
    raw = stats.get(_RAW)
    rows = [(results.labels[n], stats[n][high]) for n in results.labels if n in stats]
    throughput = [(label, s.throughput / raw[high].throughput if raw else 0.0) for label, s in rows]
    cpu = [(label, s.cpu_us / raw[high].cpu_us if raw else 0.0) for label, s in rows]
    parts, bottom = _panel(
        10,
        f"Throughput at concurrency {high}, x raw aiohttp (higher is better; dashed: target 0.90x)",
        throughput,
        0.90,
    )
    more, bottom = _panel(
        bottom + _PANEL_GAP - 24,
        f"Client CPU per call at concurrency {high}, x raw aiohttp (lower is better; "
        "dashed: target 1.15x)",
        cpu,
        1.15,
    )
    parts += more
    height = bottom + 10
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_CHART_WIDTH}" '
            f'height="{height}" viewBox="0 0 {_CHART_WIDTH} {height}" '
            'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
            f'<rect width="{_CHART_WIDTH}" height="{height}" fill="#fff"/>',
            *parts,
            "</svg>",
            "",
        ]
    )
