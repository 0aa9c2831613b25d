"""Instructions per call under cachegrind: a noise-free cross-check of the CPU column.

On a shared machine of two cores the client's CPU time per call moves by 10 to 30%
between identical runs. The number of instructions the client process executes does
not: valgrind's cachegrind (``--cache-sim=no``) counts them (``Ir``) repeatably to
about 0.3%. When ``valgrind`` is on ``PATH``, :func:`measure_instructions` runs, for
each scenario, the child's ``timed`` mode at concurrency 64 under cachegrind twice,
with :data:`CALLS` = (800, 2,400) measured calls, and reports

    (Ir(2,400) - Ir(800)) / (2,400 - 800)

the instructions of one call, with the start-up, the imports and the warm-up, which
both runs share, cancelled out.

What it does not see: the kernel's work (system calls, the network stack) and the cost
of cache misses and branch mispredictions. It cross-checks the CPU column; it does not
replace it. A row whose run fails is reported as ``failed: <reason>``; the others
still are.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .cpus import env_for

__all__ = [
    "CALLS",
    "CONCURRENCY",
    "WARMUP",
    "InstructionCountError",
    "InstructionResult",
    "InstructionRow",
    "count_instructions",
    "ids_needed",
    "measure_instructions",
    "per_call",
    "read_total",
    "valgrind_unavailable",
]

CALLS: Final = (800, 2400)
"""Measured calls of the two runs of each scenario; their difference is what counts."""

CONCURRENCY: Final = 64
"""The one concurrency measured (valgrind runs the client's threads one at a time anyway)."""

WARMUP: Final = 200
"""Unmeasured calls before the measured ones, in both runs alike (so they cancel out)."""

TIMEOUT_S: Final = 600.0
"""A cachegrind run taking longer than this is reported as failed."""

_ROOT: Final = Path(__file__).resolve().parent.parent
_REASON_CHARS: Final = 200


class InstructionCountError(Exception):
    """One cachegrind run gave no instruction count; the message says why."""


@dataclass(frozen=True, slots=True)
class InstructionRow:
    """One scenario's instructions per call, or why it has none.

    Attributes:
        scenario: the scenario's name.
        per_call: instructions per call (``None`` when the row failed).
        totals: ``Ir`` of the whole process for each of the call counts (empty on failure).
        failed: why the row has no figure (``None`` when it has one).
    """

    scenario: str
    per_call: float | None
    totals: list[int] = field(default_factory=list)
    failed: str | None = None


@dataclass(slots=True)
class InstructionResult:
    """The instruction counts of a run, or why there are none.

    Attributes:
        rows: one per scenario, in the order of the run (empty when not measured).
        calls: measured calls of the two runs of each scenario.
        concurrency: the concurrency of the runs.
        skipped: why nothing was measured (``None`` when it was).
    """

    rows: list[InstructionRow] = field(default_factory=list)
    calls: tuple[int, int] = CALLS
    concurrency: int = CONCURRENCY
    skipped: str | None = None


def valgrind_unavailable() -> str | None:
    """Why instructions cannot be counted here, or ``None`` when they can."""
    return None if shutil.which("valgrind") is not None else "valgrind not found"


def ids_needed(calls: tuple[int, int] = CALLS, warmup: int = WARMUP) -> int:
    """How many distinct user ids the longer run of a scenario asks the server for."""
    return max(warmup, CONCURRENCY) + max(calls)


def per_call(totals: Sequence[int], calls: Sequence[int]) -> float:
    """Instructions per call: the difference of two runs' totals over that of their calls.

    Raises:
        ValueError: not two runs, or the same number of calls in both.
    """
    if len(totals) != 2 or len(calls) != 2:
        raise ValueError(f"two runs are needed, got {len(totals)} totals and {len(calls)} counts")
    if calls[0] == calls[1]:
        raise ValueError(f"the two runs must differ in calls, both have {calls[0]}")
    return (totals[1] - totals[0]) / (calls[1] - calls[0])


def read_total(text: str, event: str = "Ir") -> int:
    """The whole-program count of ``event`` from a cachegrind output file's text.

    The file names its counted events on its ``events:`` line and gives their totals,
    in the same order, on its ``summary:`` line.

    Raises:
        InstructionCountError: no ``events:`` or ``summary:`` line, or the event or its
            count is missing or not a number.
    """
    events: list[str] | None = None
    summary: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("events:"):
            events = line.removeprefix("events:").split()
        elif line.startswith("summary:"):
            summary = line.removeprefix("summary:").split()
    if summary is None:
        raise InstructionCountError("no summary: line in cachegrind's output")
    index = 0
    if events is not None:
        if event not in events:
            raise InstructionCountError(f"cachegrind counted {events}, not {event}")
        index = events.index(event)
    if index >= len(summary) or not summary[index].isdigit():
        raise InstructionCountError(f"summary: line without a count of {event}: {summary}")
    return int(summary[index])


@contextlib.contextmanager
def _output_file() -> Iterator[Path]:
    """A path for cachegrind to write to, removed afterwards whatever happened."""
    fd, name = tempfile.mkstemp(prefix="geobox-bench-cg-", suffix=".out")
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _one_line(text: str) -> str:
    """The last meaningful line of a process's error output (not valgrind's own lines)."""
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith(("==", "--"))
    ]
    last = lines[-1] if lines else "no error output"
    last = last.replace("|", "/")
    return last if len(last) <= _REASON_CHARS else last[: _REASON_CHARS - 1] + "…"


def count_instructions(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = TIMEOUT_S,
) -> int:
    """Run ``command`` under cachegrind; the instructions its process executed.

    ``command[0]`` must be the program itself, not a script that ``exec``s it (a pyenv
    shim, say): cachegrind does not follow ``exec`` and then writes no output.

    Raises:
        InstructionCountError: the run failed, timed out or gave no count.
    """
    with _output_file() as out:
        try:
            done = subprocess.run(
                ["valgrind", "--tool=cachegrind", "--cache-sim=no",
                 f"--cachegrind-out-file={out}", *command],
                cwd=cwd, env=None if env is None else dict(env),
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise InstructionCountError(f"timed out after {timeout:.0f} s") from None
        except OSError as exc:
            raise InstructionCountError(f"valgrind did not start: {exc}") from None
        if done.returncode != 0:
            reason = _one_line(done.stderr)
            raise InstructionCountError(f"exit code {done.returncode}: {reason}")
        text = out.read_text(errors="replace")
        if not text:
            raise InstructionCountError("cachegrind wrote no output")
        return read_total(text)


def _measure_one(
    url: str, scenario: str, calls: tuple[int, int], warmup: int, env: Mapping[str, str]
) -> InstructionRow:
    totals: list[int] = []
    for count in calls:
        command = [sys.executable, "-m", "benchmarks.child", "timed", "--url", url,
                   "--scenario", scenario, "--calls", str(count),
                   "--concurrency", str(CONCURRENCY), "--warmup", str(warmup)]  # fmt: skip
        try:
            totals.append(count_instructions(command, env=env, cwd=_ROOT))
        except InstructionCountError as exc:
            return InstructionRow(scenario, None, failed=f"{count:,} calls: {exc}")
    return InstructionRow(scenario, per_call(totals, calls), totals)


def measure_instructions(
    url: str,
    scenarios: Sequence[str],
    *,
    cpu: int | None = None,
    calls: tuple[int, int] = CALLS,
    warmup: int = WARMUP,
    skip: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> InstructionResult:
    """Count each scenario's instructions per call (see the module docstring).

    Args:
        url: the benchmark server's base URL.
        scenarios: the scenarios to measure, in the order of the report.
        cpu: the core the client processes run on, as for the timed rows.
        calls: measured calls of the two runs of each scenario.
        warmup: unmeasured calls before them.
        skip: why the caller leaves the measurement out (``--no-instructions``,
            ``--quick``), or ``None`` to measure when valgrind is here.
        progress: told one line per scenario measured.
    """
    reason = skip if skip is not None else valgrind_unavailable()
    if reason is not None:
        return InstructionResult(calls=calls, skipped=reason)
    env = env_for(cpu)
    rows = []
    for scenario in scenarios:
        started = time.perf_counter()
        row = _measure_one(url, scenario, calls, warmup, env)
        rows.append(row)
        if progress is not None:
            figure = (
                f"failed: {row.failed}"
                if row.per_call is None
                else f"{row.per_call / 1000:,.1f}k per call"
            )
            elapsed = time.perf_counter() - started
            progress(f"instructions {scenario:<14} {figure} ({elapsed:.1f}s)")
    return InstructionResult(rows=rows, calls=calls)
