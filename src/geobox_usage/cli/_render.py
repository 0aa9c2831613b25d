"""How answers look to people (rich tables and bars) and to scripts (JSON, CSV).

Each renderer takes the answer exactly as the server sent it. A field or shape it does
not know is shown, never dropped: the JSON of an unexpected shape is printed as it is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.bar import Bar
from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.table import Table

from geobox_usage.answers import usage_points

__all__ = [
    "format_bytes",
    "format_seconds",
    "points_csv",
    "render_json",
    "render_points",
    "render_process",
    "render_summary",
    "render_user",
    "series_pairs",
]

_QUOTAS: tuple[tuple[str, str, str, bool], ...] = (
    ("API calls today", "daily_api_calls", "max_daily_api_calls", False),
    ("API calls this month", "monthly_api_calls", "max_monthly_api_calls", False),
    ("Traffic today", "daily_traffic", "max_daily_traffic", True),
    ("Traffic this month", "monthly_traffic", "max_monthly_traffic", True),
    ("Processing today", "daily_process", "max_daily_process", False),
    ("Processing this month", "monthly_process", "max_monthly_process", False),
    ("Storage", "used_storage", "available_storage", True),
)
_KNOWN = {name for _, used, limit, _ in _QUOTAS for name in (used, limit)} | {"remaining_days"}


def format_bytes(value: float) -> str:
    """``52428800`` → ``"50.0 MiB"``."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def format_seconds(value: float) -> str:
    """``3725.5`` → ``"1 h 2 min 5.5 s"``: seconds of processing for people."""
    hours, rest = divmod(float(value), 3600.0)
    minutes, seconds = divmod(rest, 60.0)
    parts = [f"{int(hours):,} h"] if hours else []
    if minutes:
        parts.append(f"{int(minutes)} min")
    if seconds or not parts:
        parts.append(f"{seconds:.1f} s" if seconds % 1 else f"{int(seconds)} s")
    return " ".join(parts)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _amount(value: float, in_bytes: bool) -> str:
    return format_bytes(value) if in_bytes else f"{value:,.0f}" if value % 1 == 0 else f"{value:,}"


def render_json(console: Console, value: Any) -> None:
    """Print ``value`` as indented JSON, exactly the data the server sent."""
    console.print_json(json.dumps(value))


def series_pairs(points: object) -> list[tuple[str, float]] | None:
    """The ``[time, value]`` pairs of an API usage answer, or ``None`` when it is not one.

    :func:`usage_points` checks the shape; the times are kept as the server wrote them
    (``...Z`` stays ``...Z``), so tables and CSV show what was sent.
    """
    if not isinstance(points, list):
        return None
    try:
        parsed = usage_points(points)
    except ValueError:
        return None
    return [(str(point[0]), float(value)) for point, (_, value) in zip(points, parsed, strict=True)]


def points_csv(pairs: Sequence[tuple[str, float]], param: str) -> str:
    """The series as CSV with a header row: ``time,<param>``; values as the server sent them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time", param])
    for when, value in pairs:
        writer.writerow([when, int(value) if value.is_integer() else value])
    return out.getvalue()


def render_points(
    console: Console, pairs: Sequence[tuple[str, float]], *, param: str, title: str
) -> None:
    """A usage series as a table with a bar per point, traffic in human units."""
    in_bytes = param == "traffic"
    top = max((value for _, value in pairs), default=0.0)
    table = Table(title=title, title_justify="left")
    table.add_column("time")
    table.add_column(param, justify="right")
    table.add_column("", width=32)
    for when, value in pairs:
        table.add_row(when, _amount(value, in_bytes), Bar(top or 1.0, 0, value, width=30))
    total = sum(value for _, value in pairs)
    table.add_section()
    table.add_row(f"total ({len(pairs)} points)", _amount(total, in_bytes), "")
    console.print(table)


def render_summary(console: Console, summary: object, *, title: str) -> None:
    """The summary as used against limit, a bar per line; fields it does not know follow."""
    if not isinstance(summary, Mapping) or _KNOWN.isdisjoint(summary):
        render_json(console, summary)  # a shape this renderer does not know: show it whole
        return
    table = Table(title=title, title_justify="left")
    table.add_column("quantity")
    table.add_column("used", justify="right")
    table.add_column("limit", justify="right")
    table.add_column("share", justify="right")
    table.add_column("", width=22)
    for label, used_key, limit_key, in_bytes in _QUOTAS:
        if used_key not in summary and limit_key not in summary:
            continue
        used, limit = _number(summary.get(used_key)), _number(summary.get(limit_key))
        limited = used is not None and limit is not None and limit > 0
        table.add_row(
            label,
            "-" if used is None else _amount(used, in_bytes),
            _amount(limit, in_bytes) if limit is not None and limit > 0 else "no limit",
            f"{used / limit:.1%}" if used is not None and limit and limited else "-",
            ProgressBar(total=limit, completed=min(used, limit), width=20)
            if used is not None and limit is not None and limited
            else "",
        )
    console.print(table)
    remaining = summary.get("remaining_days")
    console.print(f"remaining days: {'not set' if remaining is None else remaining}")
    others = {k: v for k, v in summary.items() if k not in _KNOWN}
    if others:
        console.print("other fields: " + json.dumps(others, ensure_ascii=False))


def render_process(console: Console, seconds: object, *, title: str) -> None:
    """Seconds of processing, as the server sent them and for people."""
    number = _number(seconds)
    if number is None:
        render_json(console, seconds)
        return
    console.print(f"{title}: {seconds} s ({format_seconds(number)})")


def render_user(console: Console, data: Mapping[str, Any]) -> None:
    """A user's fields, one per line, as the server sent them."""
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in data.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        table.add_row(str(name), shown)
    console.print(table)
