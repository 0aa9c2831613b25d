"""Every bad argument is refused with a clear ValueError, before any request is sent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from geobox_usage import AsyncGeoboxClient, AsyncUsage, AsyncUser, UsageParam, UsageScale
from geobox_usage.testing import DEMO_USER_ID, SimulatedGeobox

from .conftest import ClientFactory

JAN = datetime(2026, 1, 1)
FEB = datetime(2026, 2, 1)


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncGeoboxClient:
    return make_client()


@pytest.fixture
def user(client: AsyncGeoboxClient) -> AsyncUser:
    return AsyncUser(client, DEMO_USER_ID, {"id": DEMO_USER_ID, "username": "demo"})


API_USAGE_CASES: list[tuple[dict[str, Any], str]] = [
    ({}, "one of days_before_now or from_date/to_date parameters must have value"),
    ({"from_date": JAN}, "one of days_before_now or from_date/to_date"),
    ({"to_date": FEB}, "one of days_before_now or from_date/to_date"),
    ({"from_date": JAN, "days_before_now": 3}, "from_date was given without to_date"),
    ({"to_date": FEB, "days_before_now": 3}, "to_date was given without from_date"),
    ({"from_date": FEB, "to_date": JAN}, "from_date (2026-02-01T00:00:00) is after to_date"),
    (
        {"from_date": JAN.replace(tzinfo=UTC), "to_date": FEB},
        "must both be naive or both timezone-aware",
    ),
    ({"from_date": "2026-01-01", "to_date": FEB}, "from_date must be a datetime.datetime"),
    ({"from_date": date(2026, 1, 1), "to_date": FEB}, "from_date must be a datetime.datetime"),
    ({"days_before_now": 0}, "days_before_now must be a positive integer (1 or more), got 0"),
    ({"days_before_now": -2}, "days_before_now must be a positive integer"),
    ({"days_before_now": True}, "days_before_now must be a positive integer, got True"),
    ({"days_before_now": 2.5}, "days_before_now must be a positive integer, got 2.5"),
    ({"days_before_now": "5"}, "days_before_now must be a positive integer, got '5'"),
    ({"days_before_now": 5, "limit": 0}, "limit must be a positive integer (1 or more), got 0"),
    ({"days_before_now": 5, "limit": False}, "limit must be a positive integer, got False"),
    ({"days_before_now": 5, "limit": 1.0}, "limit must be a positive integer, got 1.0"),
]


@pytest.mark.parametrize(("kwargs", "message"), API_USAGE_CASES)
async def test_api_usage_period_and_limit(
    sim: SimulatedGeobox,
    client: AsyncGeoboxClient,
    user: AsyncUser,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(ValueError) as caught:
        await client.get_api_usage(user, UsageScale.Day, UsageParam.Calls, **kwargs)
    assert message in str(caught.value)
    assert sim.requests == ()


@pytest.mark.parametrize(
    ("scale", "param", "message"),
    [
        (
            "weekly",
            UsageParam.Calls,
            "scale must be one of UsageScale.Hour ('hour'), UsageScale.Day ('day'), "
            "UsageScale.Month ('month'); got 'weekly'",
        ),
        ("Day", UsageParam.Calls, "scale must be one of"),
        (None, UsageParam.Calls, "got None"),
        (
            UsageScale.Day,
            "bytes",
            "param must be one of UsageParam.Traffic ('traffic'), "
            "UsageParam.Calls ('calls'); got 'bytes'",
        ),
        (UsageScale.Day, UsageScale.Day, "param must be one of"),
    ],
)
async def test_api_usage_scale_and_param(
    sim: SimulatedGeobox,
    client: AsyncGeoboxClient,
    user: AsyncUser,
    scale: Any,
    param: Any,
    message: str,
) -> None:
    with pytest.raises(ValueError) as caught:
        await client.get_api_usage(user, scale, param, days_before_now=1)
    assert message in str(caught.value)
    assert sim.requests == ()


async def test_scale_and_param_accept_their_string_values(
    sim: SimulatedGeobox, client: AsyncGeoboxClient, user: AsyncUser
) -> None:
    await client.get_api_usage(user, "hour", "traffic", days_before_now=1)
    assert sim.requests[0].param("scale") == "hour"
    assert sim.requests[0].param("param") == "traffic"


@pytest.mark.parametrize("resource", [DEMO_USER_ID, "me", {"id": 7}, None])
async def test_api_usage_resource_must_be_a_user_or_an_api_key(
    sim: SimulatedGeobox, client: AsyncGeoboxClient, resource: Any
) -> None:
    with pytest.raises(ValueError, match="resource must be a 'user' or 'apikey' object"):
        await AsyncUsage.get_api_usage(
            client, resource, UsageScale.Day, UsageParam.Calls, days_before_now=1
        )
    assert sim.requests == ()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "0", "-1", "abc", "07", " 7", "7.0", "\u0667"])
async def test_user_id_must_be_a_positive_integer(
    sim: SimulatedGeobox, client: AsyncGeoboxClient, bad: Any
) -> None:
    calls = [
        client.get_process_usage(user_id=bad, days_before_now=1),
        client.get_usage_summary(user_id=bad),
        client.update_usage(user_id=bad),
        client.get_user(bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="user_id must be a positive integer"):
            await call
    assert sim.requests == ()


async def test_process_usage_needs_a_period(
    sim: SimulatedGeobox, client: AsyncGeoboxClient
) -> None:
    with pytest.raises(ValueError, match="one of days_before_now or from_date/to_date"):
        await client.get_process_usage()
    with pytest.raises(ValueError, match="is after to_date"):
        await client.get_process_usage(from_date=FEB, to_date=JAN)
    assert sim.requests == ()


@pytest.mark.parametrize("bad", [0, "0", "three", None, True])
async def test_apikey_id_must_be_a_positive_integer(
    sim: SimulatedGeobox, client: AsyncGeoboxClient, bad: Any
) -> None:
    with pytest.raises(ValueError, match="key_id must be a positive integer"):
        await client.get_apikey(bad)
    assert sim.requests == ()
