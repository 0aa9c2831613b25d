"""The typed views of the answers: additions that read the real shapes and never guess."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import pytest

from geobox_usage import AsyncGeoboxClient, UsageParam, UsageScale, UsageSummary, usage_points
from geobox_usage.testing import DEMO_USER_ID, SimulatedGeobox

from .conftest import ClientFactory

OFFICIAL_POINTS = [["2025-07-07T00:00:00", 21], ["2025-07-08T00:00:00", 267],
                   ["2025-07-11T00:00:00", 57.5]]  # fmt: skip


def test_usage_points_reads_the_official_shape() -> None:
    assert usage_points(OFFICIAL_POINTS) == [
        (datetime(2025, 7, 7), 21),
        (datetime(2025, 7, 8), 267),
        (datetime(2025, 7, 11), 57.5),
    ]
    assert usage_points([]) == []


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ({"time": "t"}, "expected a list of [time, value] pairs, got dict"),
        ([{"time": "2025-07-07T00:00:00", "value": 1}], "item 0 is not a [time, value] pair"),
        ([["2025-07-07T00:00:00", 1], ["2025-07-08"]], "item 1 is not a [time, value] pair"),
        ([["2025-07-07T00:00:00", "12"]], "item 0 has a value that is not a number"),
        ([["2025-07-07T00:00:00", True]], "item 0 has a value that is not a number"),
        ([[20250707, 1]], "item 0 has a time that is not a string"),
        ([["yesterday", 1]], "item 0 has a time that is not ISO 8601: 'yesterday'"),
    ],
)
def test_usage_points_names_what_it_cannot_read(points: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        usage_points(points)


async def test_the_typed_views_fit_what_the_simulator_serves(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client: AsyncGeoboxClient = make_client()
    user = await client.get_user()
    points = await client.get_api_usage(user, UsageScale.Day, UsageParam.Calls, days_before_now=3)
    assert [value for _, value in usage_points(points)] == [value for _, value in points]
    summary = cast(UsageSummary, await client.get_usage_summary())
    assert set(summary) == set(UsageSummary.__annotations__)
    assert summary == sim.summary_of(DEMO_USER_ID)
