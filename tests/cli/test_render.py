"""What people and scripts see: series, CSV, quantities, and the limit a period needs."""

from __future__ import annotations

from datetime import datetime

import pytest
from rich.console import Console

from geobox_usage import UsageScale
from geobox_usage.cli._period import Period, points_in
from geobox_usage.cli._render import (
    format_bytes,
    format_seconds,
    points_csv,
    render_summary,
    series_pairs,
)

SUMMARY = {
    "available_storage": 396210733056, "used_storage": 1229062883,
    "max_daily_api_calls": 100000000, "daily_api_calls": 79,
    "max_monthly_api_calls": 3000000000, "monthly_api_calls": 2865,
    "max_daily_traffic": 10737418240, "daily_traffic": 251705,
    "max_monthly_traffic": 322122547200, "monthly_traffic": 50359396,
    "max_daily_process": 576, "daily_process": 0, "max_monthly_process": 0,
    "monthly_process": 23, "remaining_days": None, "a_new_field": [1, 2],
}  # fmt: skip


def rendered(value: object) -> str:
    console = Console(record=True, width=120)
    render_summary(console, value, title="t")
    return console.export_text()


def test_the_summary_shows_each_quantity_against_its_limit() -> None:
    text = rendered(SUMMARY)
    assert "API calls today" in text and "0.0%" in text
    assert "Traffic this month" in text and "48.0 MiB" in text and "300.0 GiB" in text
    assert "Processing this month" in text and "no limit" in text  # a limit of 0
    assert "remaining days: not set" in text
    assert 'other fields: {"a_new_field": [1, 2]}' in text  # shown, never dropped


@pytest.mark.parametrize("odd", [[1, 2], {"calls": {"total": 1}}, 12, None])
def test_a_summary_of_another_shape_is_shown_whole(odd: object) -> None:
    text = rendered(odd)
    assert text.strip().replace(" ", "").replace("\n", "") != ""
    assert "API calls" not in text


def test_series_pairs_reads_the_real_shape_and_refuses_others() -> None:
    assert series_pairs([["2025-07-07T00:00:00", 21], ["2025-07-08T00:00:00", 2.5]]) == [
        ("2025-07-07T00:00:00", 21.0),
        ("2025-07-08T00:00:00", 2.5),
    ]
    assert series_pairs([["2025-07-07T00:00:00Z", 1]]) == [("2025-07-07T00:00:00Z", 1.0)]
    for odd in ({"a": 1}, [{"time": "t", "value": 1}], [["t", "x"]], [["t", True]], [["t"]]):
        assert series_pairs(odd) is None, odd


def test_points_csv_keeps_integers_integers() -> None:
    assert points_csv([("t1", 21.0), ("t2", 2.5)], "calls") == "time,calls\nt1,21\nt2,2.5\n"


def test_quantities_for_people() -> None:
    assert format_bytes(52428800) == "50.0 MiB"
    assert format_bytes(512) == "512 B"
    assert format_seconds(3725.5) == "1 h 2 min 5.5 s"
    assert format_seconds(0) == "0 s"
    assert format_seconds(60) == "1 min"


@pytest.mark.parametrize(
    ("period", "scale", "points"),
    [
        (Period(days=14), UsageScale.Day, 16),
        (Period(days=60), UsageScale.Day, 62),
        (Period(days=1), UsageScale.Hour, 26),
        (Period(days=365), UsageScale.Month, 16),
        (Period(start=datetime(2026, 1, 1), end=datetime(2026, 1, 3, 12)), UsageScale.Day, 5),
    ],
)
def test_the_limit_covers_the_whole_period(period: Period, scale: UsageScale, points: int) -> None:
    assert points_in(period, scale) == points
    assert points_in(period, scale) > 10 or period.span.days < 8
