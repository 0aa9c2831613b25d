"""Each operation sends exactly what the wire contract says, and nothing else."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

from geobox_usage import AsyncUsage, UsageParam, UsageScale, specs
from geobox_usage.testing import (
    ADMIN_ACCESS_TOKEN,
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    DEMO_API_KEY_ID,
    DEMO_PASSWORD,
    DEMO_USER_ID,
    DEMO_USERNAME,
    SimulatedGeobox,
)

from .conftest import ClientFactory

UUID_HEX = re.compile(r"^[0-9a-f]{32}$")


async def test_api_usage_for_a_user_sends_eid_scale_param_and_period(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client()
    user = await client.get_user()
    sim.reset_log()
    points = await client.get_api_usage(
        user, UsageScale.Day, UsageParam.Calls, days_before_now=5, limit=3
    )
    (seen,) = sim.requests
    assert (seen.method, seen.path) == ("GET", "usage/api")
    assert seen.query == (
        ("eid", str(DEMO_USER_ID)),
        ("scale", "day"),
        ("param", "calls"),
        ("days_before_now", "5"),
        ("limit", "3"),
    )
    assert seen.header("Accept") == "application/json"
    assert seen.header("Authorization") == f"Bearer {DEMO_ACCESS_TOKEN}"
    assert seen.header("Content-Type") is None
    assert seen.body == b""
    assert UUID_HEX.match(seen.request_id)
    assert len(points) == 3
    assert all(isinstance(t, str) and isinstance(v, int) for t, v in points)  # [time, value]


async def test_api_usage_for_an_api_key_sends_the_key_string_as_eid(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client()
    key = await client.get_apikey(DEMO_API_KEY_ID)
    await AsyncUsage.get_api_usage(
        client,
        resource=key,
        scale="month",
        param=UsageParam.Traffict,
        from_date=datetime(2026, 1, 1),
        to_date=datetime(2026, 3, 1, 12, 30, 15, 250),
    )
    seen = sim.requests[-1]
    assert seen.query == (
        ("eid", DEMO_API_KEY),
        ("scale", "month"),
        ("param", "traffic"),
        ("from_date", "2026-01-01T00:00:00.000000"),
        ("to_date", "2026-03-01T12:30:15.000250"),
    )


async def test_get_apikey_asks_for_json(sim: SimulatedGeobox, make_client: ClientFactory) -> None:
    key = await make_client().get_apikey(DEMO_API_KEY_ID)
    (seen,) = sim.requests
    assert (seen.method, seen.path, seen.query) == (
        "GET",
        f"apikeys/{DEMO_API_KEY_ID}/",
        (("f", "json"),),
    )
    assert (key.key_id, key.key) == (DEMO_API_KEY_ID, DEMO_API_KEY)


async def test_process_usage_converts_aware_dates_to_utc(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    tehran = timezone(timedelta(hours=3, minutes=30))
    seconds = await make_client().get_process_usage(
        user_id=DEMO_USER_ID,
        from_date=datetime(2026, 11, 1, 3, 30, tzinfo=tehran),
        to_date=datetime(2026, 11, 2, tzinfo=UTC),
    )
    (seen,) = sim.requests
    assert seen.path == "usage/process"
    assert seen.query == (
        ("user_id", str(DEMO_USER_ID)),
        ("from_date", "2026-11-01T00:00:00.000000"),
        ("to_date", "2026-11-02T00:00:00.000000"),
    )
    assert isinstance(seconds, float)


async def test_process_usage_for_the_current_user_leaves_user_id_out(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    await AsyncUsage.get_process_usage(make_client(), days_before_now=30)
    assert sim.requests[0].query == (("days_before_now", "30"),)


async def test_summary_with_and_without_user_id(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client()
    mine = await client.get_usage_summary()
    theirs = await AsyncUsage.get_usage_summary(client, user_id=DEMO_USER_ID)
    assert [(r.method, r.path, r.query) for r in sim.requests] == [
        ("GET", "usage/summary", ()),
        ("GET", "usage/summary", (("user_id", str(DEMO_USER_ID)),)),
    ]
    assert mine == theirs == sim.summary_of(DEMO_USER_ID)
    assert len(mine) == 15 and {"daily_api_calls", "max_monthly_traffic"} <= set(mine)


async def test_update_usage_posts_json_bodies(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client()
    await client.update_usage()
    result = await AsyncUsage.update_usage(client, user_id=DEMO_USER_ID)
    first, second = sim.requests
    for seen in (first, second):
        assert (seen.method, seen.path, seen.query) == ("POST", "usage/update", ())
        assert seen.header("Content-Type") == "application/json"
        assert seen.header("Accept") == "application/json"
    assert json.loads(first.body) == {}
    assert json.loads(second.body) == {"user_id": DEMO_USER_ID}
    assert sim.updates_performed == 2
    assert result == sim.summary_of(DEMO_USER_ID)


async def test_api_key_credential_travels_as_query_parameter(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    await make_client(apikey=DEMO_API_KEY).get_usage_summary()
    (seen,) = sim.requests
    assert seen.query == (("apikey", DEMO_API_KEY),)
    assert seen.header("Authorization") is None


async def test_password_login_posts_a_form_then_sends_the_token(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    await client.get_usage_summary()
    await client.get_usage_summary()
    login, first, second = sim.requests
    assert (login.method, login.path) == ("POST", "auth/token/")
    assert login.header("Content-Type") == "application/x-www-form-urlencoded"
    assert login.body == f"username={DEMO_USERNAME}&password={DEMO_PASSWORD}".encode()
    token = first.header("Authorization")
    assert token is not None and token.startswith("Bearer ")
    assert second.header("Authorization") == token
    assert sim.token_requests == 1


async def test_each_call_has_its_own_request_id_echoed_by_the_server(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client()
    await client.get_usage_summary()
    await client.execute(specs.USAGE_SUMMARY, request_id="caller-chosen-id")
    first, second = sim.requests
    assert UUID_HEX.match(first.request_id)
    assert second.request_id == "caller-chosen-id"


async def test_default_host_and_version_build_the_official_base_url(no_geobox_env: None) -> None:
    from geobox_usage import AsyncGeoboxClient

    client = AsyncGeoboxClient(access_token="t", load_entrypoints=False)
    assert client.base_url == "https://api.geobox.ir/v1/"
    other = AsyncGeoboxClient("http://localhost:9000", "v2", access_token="t")
    assert other.base_url == "http://localhost:9000/v2/"


async def test_ids_as_numeric_strings_are_sent_as_the_official_sdk_sends_them(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(access_token=ADMIN_ACCESS_TOKEN)
    user = await client.get_user(str(DEMO_USER_ID))
    key = await client.get_apikey(str(DEMO_API_KEY_ID))
    await client.get_usage_summary(user_id=str(DEMO_USER_ID))
    await client.update_usage(user_id=str(DEMO_USER_ID))
    sent = [(r.method, r.path, r.query) for r in sim.requests]
    assert sent == [
        ("GET", f"users/{DEMO_USER_ID}/", (("f", "json"),)),
        ("GET", f"apikeys/{DEMO_API_KEY_ID}/", (("f", "json"),)),
        ("GET", "usage/summary", (("user_id", str(DEMO_USER_ID)),)),
        ("POST", "usage/update", ()),
    ]
    assert json.loads(sim.requests[-1].body) == {"user_id": DEMO_USER_ID}
    assert (user.user_id, key.key_id) == (DEMO_USER_ID, DEMO_API_KEY_ID)


async def test_the_current_user_is_asked_for_as_json(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    await make_client().get_user()
    (seen,) = sim.requests
    assert (seen.method, seen.path, seen.query) == ("GET", "users/me/", (("f", "json"),))
