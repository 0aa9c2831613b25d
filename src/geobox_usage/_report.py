"""Plain-text rendering for people: tables, bar charts and human-readable quantities.

Pure functions from data to lines of text, so that the demo (and later the CLI) shows
usage the same way and the rendering is testable without a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["bar", "format_bytes", "format_quantity", "series_table", "table"]

_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(value: float, maximum: float, width: int = 30) -> str:
    """A horizontal bar of ``width`` cells at most, in eighths of a cell."""
    if maximum <= 0 or value <= 0:
        return ""
    cells = min(1.0, value / maximum) * width
    full, part = int(cells), int((cells - int(cells)) * 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def format_bytes(value: float) -> str:
    """``52428800`` → ``"50.0 MiB"``."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def format_quantity(name: str, value: float) -> str:
    """A usage quantity in the unit its name implies (traffic in bytes, seconds, counts)."""
    if name == "traffic":
        return format_bytes(value)
    if name.endswith("seconds"):
        return f"{value:,.1f} s"
    return f"{value:,.0f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Columns padded to their widest cell; numbers-looking cells aligned right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=False)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, width in zip(cells, widths, strict=False):
            numeric = cell[:1].isdigit() or (cell[:1] in "-+" and cell[1:2].isdigit())
            out.append(cell.rjust(width) if numeric else cell.ljust(width))
        return (indent + "  ".join(out)).rstrip()

    return [line(headers), indent + "  ".join("─" * w for w in widths), *map(line, rows)]


def series_table(points: Sequence[Mapping[str, Any]], param: str, width: int = 30) -> list[str]:
    """A usage series as a table with a bar per point."""
    values = [float(p.get("value", 0) or 0) for p in points]
    top = max(values, default=0.0)
    rows = [
        [str(p.get("time", "?")), format_quantity(param, v), bar(v, top, width)]
        for p, v in zip(points, values, strict=True)
    ]
    return table(["time", param, ""], rows)
