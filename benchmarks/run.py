"""The command line: ``python -m benchmarks [--quick] [--calls N] [--rounds N] ...``.

It starts the server in its own process, then for each round runs every client scenario
in a fresh process of its own, in the same order each round (A B C..., A B C...), so
that a slow spell of the machine is spread over all rows rather than landing on one.
After the rounds come a long memory run per client (``--memory-calls``; skipped with
``--quick``), the single-flight check, each client's instructions per call under
cachegrind (``benchmarks/instructions.py``; skipped with ``--no-instructions`` or
``--quick``) and the rate limiter's cost with Redis. It prints the Markdown report on stdout
(progress goes to stderr), writes it to ``benchmarks/results/latest.md`` with the raw
measurements beside it (``latest.json``), draws the chart, and with ``--update-docs``
puts the report into ``docs/performance.md`` between its markers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import aiohttp

from .child import MemoryResult, PhaseResult, SingleFlightResult
from .cpus import env_for, placement
from .instructions import ids_needed, measure_instructions
from .limiter import measure_limiter
from .report import RunResults, render_markdown, render_svg
from .scenarios import SCENARIO_NAMES, SCENARIOS, SDK_SCENARIOS
from .server import SERVER_KINDS

__all__ = [
    "DOCS_END",
    "DOCS_START",
    "main",
    "parse_args",
    "run_child",
    "skipped_instructions",
    "start_server",
]

ROOT: Final = Path(__file__).resolve().parent.parent
DOCS_START: Final = "<!-- benchmark:start -->"
DOCS_END: Final = "<!-- benchmark:end -->"
_SERVER_START_TIMEOUT: Final = 30.0


@contextlib.contextmanager
def start_server(
    kind: str = "minimal", users: int = 10_000, cpu: int | None = None
) -> Iterator[str]:
    """Run the benchmark server in its own process; yield its base URL.

    The server stops when its stdin is closed, which also happens if this process dies.
    """
    command = [sys.executable, "-m", "benchmarks.server", "--kind", kind, "--users", str(users)]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env_for(cpu),
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the benchmark server did not start (exit code {proc.poll()})")
        yield url
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def run_child(args: Sequence[str], cpu: int | None = None) -> Any:
    """Run ``python -m benchmarks.child ARGS`` and return the JSON it printed.

    Raises:
        RuntimeError: the child failed; its error output is in the message.
    """
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env_for(cpu),
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"benchmark child {' '.join(args[:3])} failed:\n{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({model}), {platform.system()}, "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}"
    )


def _load() -> str:
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Compare this client with raw aiohttp and the official SDK.",
    )
    parser.add_argument("--calls", type=int, help="measured calls per client and concurrency")
    parser.add_argument("--rounds", type=int, help="alternating rounds (medians are reported)")
    parser.add_argument("--warmup", type=int, help="unmeasured calls before each measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64], help="default: 1 64")
    parser.add_argument(
        "--memory-calls", type=int, help="calls of the memory run per client; 0 skips it"
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="a run of seconds: 500 calls, 1 round, no memory run, no instruction counts",
    )  # fmt: skip
    parser.add_argument("--no-sdk", action="store_true", help="leave out the official SDK rows")
    parser.add_argument("--only", nargs="+", choices=SCENARIO_NAMES, help="run only these clients")
    parser.add_argument(
        "--no-redis", action="store_true",
        help="leave out the rate limiter's cost with Redis (measured when redis-server is on PATH)",
    )  # fmt: skip
    parser.add_argument(
        "--no-instructions", action="store_true",
        help="leave out the instructions per call under cachegrind (measured when valgrind is "
        "on PATH; 20 to 40 s per client)",
    )  # fmt: skip
    parser.add_argument("--server", choices=SERVER_KINDS, default="minimal")
    parser.add_argument(
        "--no-pin", action="store_true",
        help="do not pin the server and the clients to cores of their own",
    )  # fmt: skip
    parser.add_argument(
        "--results-dir", type=Path, default=ROOT / "benchmarks" / "results",
        help="where latest.md and latest.json go",
    )  # fmt: skip
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "performance.svg")
    parser.add_argument(
        "--update-docs", action="store_true",
        help="also put the report into docs/performance.md between its markers",
    )  # fmt: skip
    args = parser.parse_args(argv)
    quick = args.quick
    args.calls = args.calls if args.calls is not None else (500 if quick else 6000)
    args.rounds = args.rounds if args.rounds is not None else (1 if quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (50 if quick else 200)
    if args.memory_calls is None:
        args.memory_calls = 0 if quick else 100_000
    for name in ("calls", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.memory_calls and args.memory_calls < 10:
        parser.error("--memory-calls must be 0 (skip) or at least 10")
    if any(c < 1 for c in args.concurrency):
        parser.error("--concurrency values must be at least 1")
    args.concurrency = sorted(set(args.concurrency))
    return args


def skipped_instructions(args: argparse.Namespace) -> str | None:
    """The option that leaves the instruction counts out, or ``None`` to count them."""
    if args.no_instructions:
        return "--no-instructions"
    return "--quick" if args.quick else None


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _measure(
    args: argparse.Namespace, names: list[str], url: str, results: RunResults, cpu: int | None
) -> None:
    concurrency_args = [a for c in args.concurrency for a in ("--concurrency", str(c))]
    for round_no in range(1, args.rounds + 1):
        for name in names:
            started = time.perf_counter()
            out = run_child(
                ["timed", "--url", url, "--scenario", name, "--calls", str(args.calls),
                 "--warmup", str(args.warmup), *concurrency_args], cpu,
            )  # fmt: skip
            phases = [PhaseResult(**p) for p in out["phases"]]
            results.add_timed(name, phases, out["peak_rss_bytes"])
            rates = ", ".join(f"c={p.concurrency}: {p.calls / p.wall_s:,.0f}/s" for p in phases)
            elapsed = time.perf_counter() - started
            _progress(f"round {round_no}/{args.rounds} {name:<14} {rates} ({elapsed:.1f}s)")
    if args.memory_calls:
        for name in names:
            out = run_child(
                ["memory", "--url", url, "--scenario", name, "--calls", str(args.memory_calls),
                 "--concurrency", str(args.concurrency[-1])], cpu,
            )  # fmt: skip
            memory = MemoryResult(**out)
            results.memory[name] = memory
            growth = (memory.rss_at_end_bytes - memory.rss_at_mark_bytes) / 1e6
            _progress(f"memory {name:<14} growth {growth:+.1f} MB")
    flight = run_child(["single_flight", "--url", url, "--calls", "1000"], cpu)
    results.single_flight = SingleFlightResult(**flight)
    _progress(f"single flight: {results.single_flight.requests} request(s) for 1000 calls")


def _shown(path: Path) -> str:
    """``path`` relative to the repository when inside it: no machine paths in results."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path.name


def _update_docs(report: str) -> None:
    page = ROOT / "docs" / "performance.md"
    text = page.read_text()
    start, end = text.find(DOCS_START), text.find(DOCS_END)
    if start < 0 or end < start:
        raise RuntimeError(f"{page} has no {DOCS_START} ... {DOCS_END} block to replace")
    page.write_text(text[: start + len(DOCS_START)] + "\n\n" + report + "\n" + text[end:])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print and write the report. Returns the exit code."""
    args = parse_args(argv)
    names = [
        s.name
        for s in SCENARIOS
        if (args.only is None or s.name in args.only)
        and not (args.no_sdk and s.name in SDK_SCENARIOS)
    ]
    results = RunResults(
        labels={s.name: s.label for s in SCENARIOS if s.name in names},
        concurrencies=args.concurrency,
        calls=args.calls,
        rounds=args.rounds,
        server=f"{args.server} server",
        machine=_machine(),
    )
    cores = placement(not args.no_pin)
    load_before = _load()
    ids_per_child = (max(args.warmup, args.concurrency[-1]) + args.calls) * len(args.concurrency)
    instructions_skip = skipped_instructions(args)
    instruction_ids = ids_needed() if instructions_skip is None else 0
    users = max(ids_per_child, args.memory_calls, instruction_ids) + 10
    with start_server(args.server, users, cores.server) as url:
        _progress(f"server ({args.server}) at {url}; clients: {', '.join(names)}")
        _progress(cores.describe())
        _measure(args, names, url, results, cores.client)
        results.instructions = measure_instructions(
            url, names, cpu=cores.client, skip=instructions_skip, progress=_progress
        )
        if results.instructions.skipped is not None:
            _progress(f"instructions per call: not measured ({results.instructions.skipped})")
        results.limiter = measure_limiter(url, args.calls, args.warmup, enabled=not args.no_redis)
        _progress(f"rate limiter: {results.limiter.skipped or 'in-process and Redis measured'}")
    results.notes.append(cores.describe())
    results.notes.append(f"Load average (1, 5, 15 min) before: {load_before}; after: {_load()}.")
    report = render_markdown(results)
    print(report)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "latest.md").write_text(report)
    raw = {
        "settings": {k: _shown(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "results": asdict(results),
    }
    (args.results_dir / "latest.json").write_text(json.dumps(raw, indent=1) + "\n")
    args.chart.parent.mkdir(parents=True, exist_ok=True)
    args.chart.write_text(render_svg(results))
    if args.update_docs:
        _update_docs(report)
    _progress(f"wrote {args.results_dir / 'latest.md'} and {args.chart}")
    return 0
