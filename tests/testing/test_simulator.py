"""The simulated Geobox server, over real loopback HTTP with a plain aiohttp client."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from geobox_usage.testing import (
    ADMIN_ACCESS_TOKEN,
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    DEMO_API_KEY_ID,
    DEMO_PASSWORD,
    DEMO_USER_ID,
    DEMO_USERNAME,
    OTHER_API_KEY,
    OTHER_API_KEY_ID,
    OTHER_USER_ID,
    REVOKED_API_KEY,
    Fault,
    FaultKind,
    FaultPlan,
    SimulatedGeobox,
    chaos_plan,
    serve_forever,
)
from geobox_usage.testing._faults import route_matches
from geobox_usage.testing._series import usage_value

pytest_plugins = ["pytester"]

FROZEN = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
DEMO = {"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_ACCESS_TOKEN}"}
DAYS = {"eid": str(DEMO_USER_ID), "scale": "day", "param": "calls", "days_before_now": "3"}
LOGIN = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}


@dataclass
class Reply:
    status: int
    content_type: str
    raw: bytes
    headers: CIMultiDictProxy[str]

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sim() -> AsyncIterator[SimulatedGeobox]:
    async with SimulatedGeobox(seed=1, now=lambda: FROZEN) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Accept": "application/json"}) as session:
        yield session


async def send(
    http: aiohttp.ClientSession, sim: SimulatedGeobox, method: str, path: str, **kwargs: Any
) -> Reply:
    kwargs.setdefault("headers", DEMO)
    async with http.request(method, sim.api_url + path, **kwargs) as resp:
        return Reply(resp.status, resp.content_type, await resp.read(), resp.headers)


async def login(http: aiohttp.ClientSession, sim: SimulatedGeobox) -> dict[str, str]:
    reply = await send(http, sim, "POST", "auth/token/", data=LOGIN, headers={})
    assert reply.status == 200
    return {"Authorization": f"Bearer {reply.body['access_token']}"}


# ----------------------------------------------------------------------------- auth


async def test_login_issues_a_working_token(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    reply = await send(http, sim, "POST", "auth/token/", data=LOGIN, headers={})
    assert reply.status == 200
    assert reply.body["token_type"] == "bearer"
    assert reply.body["expires_in"] == 3600
    auth = {"Authorization": f"Bearer {reply.body['access_token']}"}
    me = (await send(http, sim, "GET", "users/me/", headers=auth)).body
    assert (me["id"], me["username"], me["is_admin"]) == (DEMO_USER_ID, "demo", False)
    assert sim.token_requests == 1
    assert sim.tokens_issued == 1


async def test_login_failures(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    bad = {"username": DEMO_USERNAME, "password": "nope"}
    reply = await send(http, sim, "POST", "auth/token/", data=bad, headers={})
    assert (reply.status, reply.body) == (401, {"detail": "Incorrect username or password"})
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    reply = await send(http, sim, "POST", "auth/token/", json=LOGIN, headers={})  # not a form
    assert reply.status == 422
    assert [e["loc"] for e in reply.body["detail"]] == [["body", "username"], ["body", "password"]]
    assert reply.body["detail"][0]["type"] == "value_error.missing"
    assert (sim.token_requests, sim.tokens_issued) == (2, 0)


@pytest.mark.parametrize(
    ("headers", "params", "status", "expected"),
    [
        (DEMO, {}, 200, DEMO_USER_ID),
        (ADMIN, {}, 200, 1),
        ({}, {"apikey": DEMO_API_KEY}, 200, DEMO_USER_ID),
        ({}, {"apikey": REVOKED_API_KEY}, 401, "Not authenticated"),
        ({}, {"apikey": "unknown"}, 401, "Not authenticated"),
        ({}, {}, 401, "Not authenticated"),
        ({"Authorization": "Bearer unknown"}, {"apikey": DEMO_API_KEY}, 401, "Invalid token"),
        ({"Authorization": "Basic ZGVtbzpkZW1v"}, {"apikey": DEMO_API_KEY}, 200, DEMO_USER_ID),
    ],
)
async def test_authentication(
    sim: SimulatedGeobox,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    params: dict[str, str],
    status: int,
    expected: object,
) -> None:
    reply = await send(http, sim, "GET", "users/me/", headers=headers, params=params)
    assert reply.status == status
    assert (reply.body["id"] if status == 200 else reply.body["detail"]) == expected


async def test_expire_tokens_expires_issued_tokens_only(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    auth = await login(http, sim)
    sim.expire_tokens()
    reply = await send(http, sim, "GET", "users/me/", headers=auth)
    assert (reply.status, reply.body) == (401, {"detail": "Token expired"})
    assert (await send(http, sim, "GET", "users/me/")).status == 200  # static token
    sim.expire_tokens(include_static=True)
    assert (await send(http, sim, "GET", "users/me/")).body == {"detail": "Token expired"}


async def test_issued_tokens_expire_after_their_ttl(http: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with SimulatedGeobox(clock=clock, token_ttl=60) as sim:
        auth = await login(http, sim)
        clock.now += 59.9
        assert (await send(http, sim, "GET", "users/me/", headers=auth)).status == 200
        clock.now += 0.1
        reply = await send(http, sim, "GET", "users/me/", headers=auth)
        assert (reply.status, reply.body) == (401, {"detail": "Token expired"})
        assert (await send(http, sim, "GET", "users/me/")).status == 200  # static: no ttl


async def test_issue_token_helper(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    auth = {"Authorization": f"Bearer {sim.issue_token(OTHER_USER_ID)}"}
    assert (await send(http, sim, "GET", "users/me/", headers=auth)).body["id"] == OTHER_USER_ID
    assert sim.tokens_issued == 0  # only auth/token/ counts


# ----------------------------------------------------------------------------- users and keys


async def test_users(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    user = (await send(http, sim, "GET", f"users/{OTHER_USER_ID}/")).body
    assert (user["id"], user["username"], user["is_admin"]) == (OTHER_USER_ID, "other", False)
    assert {"email", "first_name", "last_name", "is_active"} <= set(user)
    reply = await send(http, sim, "GET", "users/99/")
    assert (reply.status, reply.body) == (404, {"detail": "User not found"})
    reply = await send(http, sim, "GET", "users/abc/")
    assert reply.status == 422
    assert reply.body["detail"] == [
        {
            "loc": ["path", "user_id"],
            "msg": "value is not a valid integer",
            "type": "type_error.integer",
        }
    ]


async def test_api_keys(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    reply = await send(http, sim, "GET", f"apikeys/{DEMO_API_KEY_ID}/", params={"f": "json"})
    assert reply.body == {
        "id": DEMO_API_KEY_ID,
        "name": "demo key",
        "key": DEMO_API_KEY,
        "revoked": False,
        "user_id": DEMO_USER_ID,
    }
    other = f"apikeys/{OTHER_API_KEY_ID}/"
    reply = await send(http, sim, "GET", other, params={"f": "json"})
    assert (reply.status, reply.body) == (403, {"detail": "Not allowed"})
    reply = await send(http, sim, "GET", other, params={"f": "json"}, headers=ADMIN)
    assert reply.body["key"] == OTHER_API_KEY
    reply = await send(http, sim, "GET", "apikeys/99/", params={"f": "json"})
    assert (reply.status, reply.body) == (404, {"detail": "API key not found"})


async def test_unknown_route_and_wrong_method(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    reply = await send(http, sim, "GET", "users/me")  # no trailing slash: exact paths only
    assert (reply.status, reply.body) == (404, {"detail": "Not Found"})
    reply = await send(http, sim, "POST", "usage/summary")
    assert (reply.status, reply.body) == (405, {"detail": "Method Not Allowed"})
    assert reply.headers["Allow"] == "GET"


# ----------------------------------------------------------------------------- usage/api


async def test_usage_points_are_aligned_oldest_first_and_limited(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    days = (await send(http, sim, "GET", "usage/api", params=DAYS)).body
    assert [time for time, _ in days] == [  # the real shape: [time, value] pairs
        "2026-11-17T00:00:00",
        "2026-11-18T00:00:00",
        "2026-11-19T00:00:00",
        "2026-11-20T00:00:00",
    ]
    assert all(len(p) == 2 and isinstance(p[1], int) and p[1] > 0 for p in days)

    hours = {**DAYS, "scale": "hour", "days_before_now": "1"}
    default = (await send(http, sim, "GET", "usage/api", params=hours)).body
    assert len(default) == 10  # the server's default limit
    assert default[0][0] == "2026-11-19T12:00:00"
    every = (await send(http, sim, "GET", "usage/api", params={**hours, "limit": "100"})).body
    starts = [datetime(2026, 11, 19, 12) + timedelta(hours=h) for h in range(25)]
    with_data = [b for b in starts if usage_value(sim.seed, DAYS["eid"], "hour", "calls", b)]
    assert [time for time, _ in every] == [b.isoformat() for b in with_data]  # 0s left out
    assert every[:10] == default

    months = {
        **DAYS,
        "scale": "month",
        "param": "traffic",
        "from_date": "2026-01-15T10:00:00.000000",
        "to_date": "2026-03-01T00:00:00.000000",
    }
    del months["days_before_now"]
    points = (await send(http, sim, "GET", "usage/api", params=months)).body
    assert [time for time, _ in points] == [
        "2026-01-01T00:00:00",
        "2026-02-01T00:00:00",
        "2026-03-01T00:00:00",
    ]


async def test_usage_values_depend_only_on_seed_and_bucket(http: aiohttp.ClientSession) -> None:
    def frozen() -> datetime:
        return FROZEN

    async def fetch(seed: int, query: dict[str, str]) -> list[dict[str, Any]]:
        async with SimulatedGeobox(seed, now=frozen) as sim:
            points: list[dict[str, Any]] = (
                await send(http, sim, "GET", "usage/api", params=query)
            ).body
            return points

    first = await fetch(1, DAYS)
    assert await fetch(1, DAYS) == first
    assert await fetch(2, DAYS) != first
    longer = await fetch(1, {**DAYS, "days_before_now": "5"})
    assert longer[-4:] == first  # the same buckets have the same values
    by_key = await fetch(1, {**DAYS, "eid": DEMO_API_KEY})
    assert by_key != first


@pytest.mark.parametrize(
    ("headers", "eid", "status"),
    [
        (DEMO, DEMO_API_KEY, 200),
        (DEMO, REVOKED_API_KEY, 200),
        (DEMO, str(OTHER_USER_ID), 403),
        (DEMO, OTHER_API_KEY, 403),
        (ADMIN, str(OTHER_USER_ID), 200),
        (ADMIN, OTHER_API_KEY, 200),
        (DEMO, "99", 404),
        (DEMO, "no-such-key", 404),
    ],
)
async def test_usage_permissions(
    sim: SimulatedGeobox,
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    eid: str,
    status: int,
) -> None:
    reply = await send(http, sim, "GET", "usage/api", params={**DAYS, "eid": eid}, headers=headers)
    assert reply.status == status
    if status == 403:
        assert reply.body == {"detail": "Not allowed"}
    if status == 404:
        assert reply.body == {"detail": "Resource not found"}


@pytest.mark.parametrize(
    ("change", "loc", "type_"),
    [
        ({"scale": "week"}, ["query", "scale"], "type_error.enum"),
        ({"param": "bytes"}, ["query", "param"], "type_error.enum"),
        ({"eid": None}, ["query", "eid"], "value_error.missing"),
        ({"days_before_now": "two"}, ["query", "days_before_now"], "type_error.integer"),
        ({"days_before_now": "-1"}, ["query", "days_before_now"], "value_error.number.not_ge"),
        ({"limit": "0"}, ["query", "limit"], "value_error.number.not_ge"),
        ({"limit": "1001"}, ["query", "limit"], "value_error.number.not_le"),
        ({"limit": "ten"}, ["query", "limit"], "type_error.integer"),
        ({"days_before_now": None}, ["query", "from_date"], "value_error.missing"),
        (
            {"days_before_now": None, "from_date": "2026-11-01", "to_date": "2026-11-02"},
            ["query", "from_date"],
            "value_error.datetime",
        ),
        (
            {
                "days_before_now": None,
                "from_date": "2026-11-02T00:00:00.000000",
                "to_date": "2026-11-01T00:00:00.000000",
            },
            ["query", "from_date"],
            "value_error",
        ),
    ],
)
async def test_usage_validation(
    sim: SimulatedGeobox,
    http: aiohttp.ClientSession,
    change: dict[str, str | None],
    loc: list[str],
    type_: str,
) -> None:
    merged = {**DAYS, **change}
    query = {k: v for k, v in merged.items() if v is not None}
    reply = await send(http, sim, "GET", "usage/api", params=query)
    assert reply.status == 422
    first = reply.body["detail"][0]
    assert (first["loc"], first["type"]) == (loc, type_)
    assert isinstance(first["msg"], str)
    assert first["msg"]


async def test_enum_error_has_the_fastapi_shape(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    reply = await send(http, sim, "GET", "usage/api", params={**DAYS, "scale": "week"})
    assert reply.body == {
        "detail": [
            {
                "loc": ["query", "scale"],
                "msg": "value is not a valid enumeration member",
                "type": "type_error.enum",
            }
        ]
    }


async def test_validation_comes_after_authentication(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    reply = await send(http, sim, "GET", "usage/api", params={"scale": "week"}, headers={})
    assert (reply.status, reply.body) == (401, {"detail": "Not authenticated"})


# ----------------------------------------------------------------------------- process, summary


async def test_process_usage(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    query = {"from_date": "2026-11-01T00:00:00.000000", "to_date": "2026-11-02T00:00:00.000000"}
    first = await send(http, sim, "GET", "usage/process", params=query)
    assert first.status == 200
    assert isinstance(first.body, float)
    assert first.body >= 0
    again = await send(http, sim, "GET", "usage/process", params={**query, "user_id": "7"})
    assert again.body == first.body
    other = {**query, "user_id": str(OTHER_USER_ID)}
    assert (await send(http, sim, "GET", "usage/process", params=other)).status == 403
    assert (
        await send(http, sim, "GET", "usage/process", params=other, headers=ADMIN)
    ).status == 200
    reply = await send(http, sim, "GET", "usage/process", params={"user_id": "7"})
    assert reply.status == 422
    reply = await send(http, sim, "GET", "usage/process", params={"days_before_now": "1"})
    assert isinstance(reply.body, float)


async def test_summary(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    summary = (await send(http, sim, "GET", "usage/summary")).body
    # The real shape: one flat object of 15 fields, as the official SDK's test data.
    assert list(summary) == [
        "available_storage", "used_storage", "max_daily_api_calls", "daily_api_calls",
        "max_monthly_api_calls", "monthly_api_calls", "max_daily_traffic", "daily_traffic",
        "max_monthly_traffic", "monthly_traffic", "max_daily_process", "daily_process",
        "max_monthly_process", "monthly_process", "remaining_days",
    ]  # fmt: skip
    assert summary["max_daily_api_calls"] == 100_000_000
    assert summary["max_monthly_traffic"] == 322_122_547_200
    assert summary["remaining_days"] is None
    assert all(isinstance(v, int) for k, v in summary.items() if k != "remaining_days")
    assert summary["daily_api_calls"] <= summary["monthly_api_calls"]
    assert summary == sim.summary_of(DEMO_USER_ID)
    other = {"user_id": str(OTHER_USER_ID)}
    reply = await send(http, sim, "GET", "usage/summary", params=other)
    assert (reply.status, reply.body) == (403, {"detail": "Not allowed"})
    reply = await send(http, sim, "GET", "usage/summary", params=other, headers=ADMIN)
    assert reply.body == sim.summary_of(OTHER_USER_ID) != summary
    reply = await send(http, sim, "GET", "usage/summary", params={"user_id": "99"}, headers=ADMIN)
    assert (reply.status, reply.body) == (404, {"detail": "User not found"})


async def test_update_recomputes_the_summary_and_records_the_request_id(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    before = (await send(http, sim, "GET", "usage/summary")).body
    headers = {**DEMO, "X-Request-ID": "req-1"}
    after = (await send(http, sim, "POST", "usage/update", json={}, headers=headers)).body
    assert after["daily_api_calls"] > before["daily_api_calls"]
    assert after["monthly_api_calls"] > before["monthly_api_calls"]
    assert after["monthly_traffic"] > before["monthly_traffic"]
    assert (await send(http, sim, "GET", "usage/summary")).body == after
    headers = {**DEMO, "X-Request-ID": "req-2"}
    body = {"user_id": DEMO_USER_ID}
    assert (await send(http, sim, "POST", "usage/update", json=body, headers=headers)).status == 200
    assert sim.updates_performed == 2
    assert sim.update_request_ids == ("req-1", "req-2")


async def test_update_refusals_perform_nothing(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    reply = await send(http, sim, "POST", "usage/update", json={"user_id": OTHER_USER_ID})
    assert (reply.status, reply.body) == (403, {"detail": "Not allowed"})
    reply = await send(http, sim, "POST", "usage/update", json={"user_id": "seven"})
    assert reply.status == 422
    assert reply.body["detail"][0]["loc"] == ["body", "user_id"]
    reply = await send(http, sim, "POST", "usage/update", data=b"{not json")
    assert reply.status == 422
    assert sim.updates_performed == 0
    reply = await send(
        http, sim, "POST", "usage/update", json={"user_id": OTHER_USER_ID}, headers=ADMIN
    )
    assert reply.body == sim.summary_of(OTHER_USER_ID)
    assert sim.updates_performed == 1


# ----------------------------------------------------------------------------- request log


async def test_request_id_is_echoed_or_generated(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    reply = await send(http, sim, "GET", "users/me/", headers={**DEMO, "X-Request-ID": "abc"})
    assert reply.headers["X-Request-ID"] == "abc"
    reply = await send(http, sim, "GET", "users/me/", headers={})  # even on errors
    generated = reply.headers["X-Request-ID"]
    assert generated
    assert generated != "abc"
    assert [r.request_id for r in sim.requests] == ["abc", generated]


async def test_request_log(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    started = time.monotonic()
    await send(http, sim, "GET", "usage/api", params=DAYS)
    await send(http, sim, "POST", "usage/update", json={"user_id": 7})
    async with http.get(sim.api_url + "users/me/", headers={**DEMO, "Accept": "text/html"}):
        pass
    first, update, me = sim.requests
    assert (first.method, first.path) == ("GET", "usage/api")
    assert first.query == tuple(DAYS.items())
    assert first.param("scale") == "day"
    assert first.header("accept") == "application/json"
    assert first.header("authorization") == DEMO["Authorization"]
    assert first.fault is None
    assert started <= first.received_at <= update.received_at <= time.monotonic()
    assert json.loads(update.body) == {"user_id": 7}
    assert me.header("Accept") == "text/html"  # recorded, not rejected
    assert sim.count() == 3
    assert sim.count("GET") == 2
    assert sim.count(path="usage/*") == 2
    assert sim.count("post", "usage/update") == 1
    sim.reset_log()
    assert (sim.requests, sim.count(), sim.updates_performed) == ((), 0, 0)
    assert sim.update_request_ids == ()


# ----------------------------------------------------------------------------- faults


async def test_status_faults_json_and_html(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    sim.faults.sequence(
        "users/me/",
        Fault.status(502, html=True),
        Fault.status(500),
        Fault.status(418, detail="short and stout", headers={"X-Extra": "1"}),
    )
    reply = await send(http, sim, "GET", "users/me/")
    assert (reply.status, reply.content_type) == (502, "text/html")
    assert b"502 Bad Gateway" in reply.raw
    reply = await send(http, sim, "GET", "users/me/")
    assert (reply.status, reply.body) == (500, {"detail": "Internal Server Error"})
    reply = await send(http, sim, "GET", "users/me/")
    assert (reply.status, reply.body) == (418, {"detail": "short and stout"})
    assert reply.headers["X-Extra"] == "1"
    assert (await send(http, sim, "GET", "users/me/")).status == 200
    assert sim.faults.exhausted
    assert [r.fault.code if r.fault else None for r in sim.requests] == [502, 500, 418, None]


async def test_retry_after_as_seconds_or_http_date(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    moment = datetime(2026, 11, 20, 12, 31, 5, tzinfo=UTC)
    sim.faults.sequence(
        "*",
        Fault.status(429, retry_after=0.05),
        Fault.status(503, retry_after=moment),
        Fault.status(503, retry_after=2),
    )
    reply = await send(http, sim, "GET", "users/me/")
    assert (reply.status, reply.body) == (429, {"detail": "Too many requests"})
    assert reply.headers["Retry-After"] == "0.05"
    reply = await send(http, sim, "GET", "users/me/")
    assert reply.headers["Retry-After"] == "Fri, 20 Nov 2026 12:31:05 GMT"
    assert (await send(http, sim, "GET", "users/me/")).headers["Retry-After"] == "2"


async def test_delay_fault(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    sim.faults.sequence("users/me/", Fault.delay(0.2), Fault.delay(0.03))
    timeout = aiohttp.ClientTimeout(sock_read=0.05)
    with pytest.raises(asyncio.TimeoutError):
        await send(http, sim, "GET", "users/me/", timeout=timeout)
    started = time.monotonic()
    reply = await send(http, sim, "GET", "users/me/")
    assert reply.status == 200
    assert time.monotonic() - started >= 0.03


async def test_drop_fault(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    sim.faults.sequence("POST usage/update", Fault.drop())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await send(http, sim, "POST", "usage/update", json={})
    # aiohttp itself repeats an idempotent request once after a disconnect,
    # so a GET needs two drops in a row for its caller to see one.
    sim.faults.sequence("users/me/", Fault.drop(), Fault.drop())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await send(http, sim, "GET", "users/me/")
    assert sim.count("GET", "users/me/") == 2
    assert (await send(http, sim, "GET", "users/me/")).status == 200


async def test_truncate_fault(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    full = (await send(http, sim, "GET", "usage/summary")).raw
    sim.faults.sequence("*", Fault.truncate())
    async with http.get(sim.api_url + "usage/summary", headers=DEMO) as answer:
        assert (answer.status, answer.content_type) == (200, "application/json")
        assert int(answer.headers["Content-Length"]) == len(full)  # announces it all
        with pytest.raises(aiohttp.ClientPayloadError):  # ... and closes half way
            await answer.read()
    assert sim.count("GET", "usage/summary") == 2


async def test_not_json_fault(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    sim.faults.sequence("users/me/", Fault.not_json(), Fault.not_json(html=True))
    reply = await send(http, sim, "GET", "users/me/")
    assert (reply.status, reply.content_type, reply.raw) == (200, "text/plain", b"OK")
    reply = await send(http, sim, "GET", "users/me/")
    assert (reply.status, reply.content_type) == (200, "text/html")
    assert reply.raw.startswith(b"<html>")


async def test_expire_token_fault(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    auth = await login(http, sim)
    sim.faults.sequence("users/me/", Fault.expire_token())
    reply = await send(http, sim, "GET", "users/me/", headers=auth)
    assert (reply.status, reply.body) == (401, {"detail": "Token expired"})
    reply = await send(http, sim, "GET", "users/me/", headers=auth)
    assert (reply.status, reply.body) == (401, {"detail": "Token expired"})  # stays expired
    assert (await send(http, sim, "GET", "users/me/", headers=await login(http, sim))).status == 200


async def test_faults_on_the_token_route(sim: SimulatedGeobox, http: aiohttp.ClientSession) -> None:
    sim.faults.sequence("auth/token/", Fault.status(503, html=True))
    reply = await send(http, sim, "POST", "auth/token/", data=LOGIN, headers={})
    assert reply.status == 503
    assert sim.token_requests == 1
    assert (await send(http, sim, "POST", "auth/token/", data=LOGIN, headers={})).status == 200


@pytest.mark.parametrize(
    ("fault", "performed"),
    [
        (Fault.status(429, retry_after=0.01), 0),
        (Fault.status(503, retry_after=0.01), 0),
        (Fault.status(400), 0),
        (Fault.expire_token(), 0),
        (Fault.status(500), 1),
        (Fault.status(502, html=True), 1),
        (Fault.status(503, html=True), 1),
        (Fault.status(504), 1),
        (Fault.delay(0.01), 1),
        (Fault.drop(), 1),
        (Fault.truncate(), 1),
        (Fault.not_json(), 1),
    ],
)
async def test_update_faults_before_or_after_the_work(
    sim: SimulatedGeobox, http: aiohttp.ClientSession, fault: Fault, performed: int
) -> None:
    sim.faults.sequence("POST usage/update", fault)
    headers = {**DEMO, "X-Request-ID": "update-1"}
    try:
        reply = await send(http, sim, "POST", "usage/update", json={}, headers=headers)
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
        assert fault.kind in {FaultKind.DROP, FaultKind.TRUNCATE}
    else:
        assert (reply.status == 200 and reply.content_type == "application/json") is (
            fault.kind is FaultKind.DELAY
        )
    assert fault.before_work is (performed == 0)
    assert sim.updates_performed == performed
    assert sim.update_request_ids == ("update-1",) * performed
    assert sim.requests[0].fault == fault


def test_route_patterns() -> None:
    assert route_matches("*", "GET", "users/me/")
    assert route_matches("usage/api", "GET", "usage/api")
    assert route_matches("usage/api/", "GET", "usage/api")
    assert route_matches("auth/token", "POST", "auth/token/")
    assert route_matches("POST usage/update", "post", "usage/update")
    assert not route_matches("POST usage/update", "GET", "usage/update")
    assert route_matches("users/*", "GET", "users/7/")
    assert route_matches("GET *", "GET", "usage/summary")
    assert not route_matches("usage/api", "GET", "usage/apix")


def test_sequence_rules() -> None:
    plan = FaultPlan().sequence("usage/*", None, Fault.drop()).sequence("*", Fault.truncate())
    assert plan.pick("GET", "users/me/") == Fault.truncate()  # only the second rule matches
    assert plan.pick("GET", "usage/api") is None  # None step used; rule 2 is exhausted
    assert plan.pick("GET", "usage/api") == Fault.drop()
    assert plan.pick("GET", "usage/api") is None
    assert plan.exhausted
    plan.sequence("*", Fault.drop())
    assert not plan.exhausted
    assert plan.clear().exhausted
    assert plan.pick("GET", "usage/api") is None


def test_a_none_step_lets_later_rules_fault_the_request() -> None:
    plan = FaultPlan().sequence("*", None).sequence("*", Fault.drop())
    assert plan.pick("GET", "users/me/") == Fault.drop()


def test_random_rules_are_seeded_and_deterministic() -> None:
    faults = [Fault.drop(), Fault.truncate(), Fault.status(502)]

    def picks(seed: int) -> list[Fault | None]:
        plan = FaultPlan(seed).random("usage/*", 0.5, faults, exclude=["usage/update"])
        return [plan.pick("GET", "usage/api") for _ in range(50)]

    first = picks(7)
    assert picks(7) == first
    assert picks(8) != first
    assert 10 < sum(f is not None for f in first) < 40
    assert {f for f in first if f is not None} == set(faults)
    plan = FaultPlan(7).random("usage/*", 1.0, faults, exclude=["usage/update"])
    assert plan.pick("POST", "usage/update") is None
    assert plan.pick("GET", "users/me/") is None
    assert FaultPlan().random("*", 0.0, faults).pick("GET", "usage/api") is None
    with pytest.raises(ValueError, match="probability"):
        FaultPlan().random("*", 1.5, faults)


def test_chaos_plan_has_every_transient_fault_in_equal_parts() -> None:
    plan = chaos_plan(1.0, seed=3, max_delay=0.02, retry_after=0.001)
    seen = [plan.pick("GET", "usage/api") for _ in range(400)]
    kinds = {(f.kind, f.code, f.retry_after, f.html, f.seconds) for f in seen if f}
    assert kinds == {
        (FaultKind.STATUS, 429, 0.001, False, 0.0),
        (FaultKind.STATUS, 502, None, True, 0.0),
        (FaultKind.STATUS, 503, None, True, 0.0),
        (FaultKind.STATUS, 504, None, True, 0.0),
        (FaultKind.STATUS, 503, 0.001, False, 0.0),
        (FaultKind.DELAY, None, None, False, 0.02),
        (FaultKind.DROP, None, None, False, 0.0),
        (FaultKind.TRUNCATE, None, None, False, 0.0),
    }
    again = chaos_plan(1.0, seed=3, max_delay=0.02, retry_after=0.001)
    assert [again.pick("GET", "usage/api") for _ in range(400)] == seen
    quiet = chaos_plan(0.3, exclude=["auth/token/"])
    assert all(quiet.pick("POST", "auth/token/") is None for _ in range(50))


async def test_random_faults_against_the_server(http: aiohttp.ClientSession) -> None:
    async def statuses() -> list[int]:
        plan = FaultPlan(5).random("usage/summary", 0.5, [Fault.status(502)])
        async with SimulatedGeobox(faults=plan) as sim:
            return [(await send(http, sim, "GET", "usage/summary")).status for _ in range(12)]

    first = await statuses()
    assert await statuses() == first
    assert set(first) == {200, 502}


async def test_fault_plan_can_be_replaced_while_running(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    sim.faults = FaultPlan().sequence("*", Fault.status(500))
    assert (await send(http, sim, "GET", "users/me/")).status == 500
    sim.faults = None
    assert (await send(http, sim, "GET", "users/me/")).status == 200


# ----------------------------------------------------------------------------- extra headers


async def test_response_headers_go_on_successful_answers_of_their_route_only(
    http: aiohttp.ClientSession,
) -> None:
    extra = {"GET usage/summary": {"Cache-Control": "max-age=5", "X-Sim": "yes"}}
    async with SimulatedGeobox(response_headers=extra) as sim:
        reply = await send(http, sim, "GET", "usage/summary")
        assert reply.status == 200
        assert (reply.headers["Cache-Control"], reply.headers["X-Sim"]) == ("max-age=5", "yes")
        assert reply.headers["X-Request-ID"]  # the simulator's own headers are still there
        assert "Cache-Control" not in (await send(http, sim, "GET", "users/me/")).headers
        refused = await send(http, sim, "GET", "usage/summary", params={"user_id": "1"})
        assert refused.status == 403
        assert "Cache-Control" not in refused.headers
        assert sim.response_headers == extra


async def test_response_headers_can_be_set_changed_and_removed_while_running(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    assert sim.response_headers == {}
    sim.set_response_headers("usage/*", {"Cache-Control": "no-store"})
    sim.set_response_headers("*", {"X-Everywhere": "1"})
    summary = await send(http, sim, "GET", "usage/summary")
    assert (summary.headers["Cache-Control"], summary.headers["X-Everywhere"]) == ("no-store", "1")
    me = await send(http, sim, "GET", "users/me/")
    assert "Cache-Control" not in me.headers
    assert me.headers["X-Everywhere"] == "1"
    token = await send(http, sim, "POST", "auth/token/", data=LOGIN, headers={})
    assert token.headers["X-Everywhere"] == "1"  # "*" covers the token route too

    # several matching routes merge; for one name (any case) the route set last wins
    sim.set_response_headers("GET usage/summary", {"cache-control": "max-age=60"})
    summary = await send(http, sim, "GET", "usage/summary")
    assert summary.headers.getall("Cache-Control") == ["max-age=60"]
    sim.set_response_headers("usage/*", {"Cache-Control": "no-cache"})  # now the latest
    assert (await send(http, sim, "GET", "usage/summary")).headers["Cache-Control"] == "no-cache"
    assert list(sim.response_headers) == ["*", "GET usage/summary", "usage/*"]

    # a method in the route limits it to that method
    sim.set_response_headers("POST usage/update", {"X-Updated": "yes"})
    update = await send(http, sim, "POST", "usage/update", json={})
    assert update.headers["X-Updated"] == "yes"
    assert "X-Updated" not in (await send(http, sim, "GET", "usage/summary")).headers

    for route in ("usage/*", "GET usage/summary", "POST usage/update"):
        sim.set_response_headers(route, None)
    sim.set_response_headers("*", {})
    assert sim.response_headers == {}
    assert "Cache-Control" not in (await send(http, sim, "GET", "usage/summary")).headers


async def test_response_headers_and_faults(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    sim.set_response_headers("usage/summary", {"Cache-Control": "max-age=5"})
    sim.faults.sequence(
        "usage/summary",
        Fault.delay(0.01),
        Fault.truncate(),
        Fault.status(503, html=True),  # after the work, but it replaces the answer
        Fault.status(429, retry_after=1),  # a refusal before the work
        Fault.not_json(),
    )
    delayed = await send(http, sim, "GET", "usage/summary")
    assert delayed.headers.get("Cache-Control") == "max-age=5"
    assert delayed.body == sim.summary_of(DEMO_USER_ID)  # the delayed answer is whole
    async with http.get(sim.api_url + "usage/summary", headers=DEMO) as truncated:
        assert truncated.headers.get("Cache-Control") == "max-age=5"
    replaced = [await send(http, sim, "GET", "usage/summary") for _ in range(3)]
    assert [r.status for r in replaced] == [503, 429, 200]
    assert all("Cache-Control" not in r.headers for r in replaced)


async def test_rate_limit_headers_win_over_response_headers(http: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    extra = {"*": {"x-ratelimit-limit": "999", "Cache-Control": "max-age=5"}}
    async with SimulatedGeobox(clock=clock, rate_limit=(1, 10.0), response_headers=extra) as sim:
        ok = await send(http, sim, "GET", "users/me/")
        assert ok.headers.getall("X-RateLimit-Limit") == ["1"]
        assert ok.headers["Cache-Control"] == "max-age=5"
        limited = await send(http, sim, "GET", "users/me/")
        assert limited.status == 429
        assert "Cache-Control" not in limited.headers


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Content-Type": "text/plain"}, "sets Content-Type itself"),
        ({"x-request-id": "abc"}, "sets x-request-id itself"),
        ({"Content-Length": "3"}, "sets Content-Length itself"),
        ({"Bad Name": "1"}, "not a valid header name"),
        ({"": "1"}, "not a valid header name"),
        ({"X-Split": "a\r\nSet-Cookie: b"}, "line break"),
    ],
)
def test_response_headers_are_checked(headers: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulatedGeobox(response_headers={"*": headers})
    sim = SimulatedGeobox()
    with pytest.raises(ValueError, match=message):
        sim.set_response_headers("usage/api", headers)
    assert sim.response_headers == {}


# ----------------------------------------------------------------------------- rate limit


async def test_rate_limit(http: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with SimulatedGeobox(clock=clock, rate_limit=(2, 10.0)) as sim:
        first = await send(http, sim, "GET", "users/me/")
        assert first.headers["X-RateLimit-Limit"] == "2"
        assert first.headers["X-RateLimit-Remaining"] == "1"
        assert first.headers["X-RateLimit-Reset"] == "10"
        clock.now += 2.5
        second = await send(http, sim, "GET", "users/me/")
        assert (second.status, second.headers["X-RateLimit-Remaining"]) == (200, "0")
        assert second.headers["X-RateLimit-Reset"] == "7.5"
        third = await send(http, sim, "GET", "users/me/")
        assert (third.status, third.body) == (429, {"detail": "Too many requests"})
        assert third.headers["Retry-After"] == "7.5"
        assert third.headers["X-RateLimit-Remaining"] == "0"
        clock.now += 7.5
        assert (await send(http, sim, "GET", "users/me/")).status == 200


async def test_no_rate_limit_headers_by_default(
    sim: SimulatedGeobox, http: aiohttp.ClientSession
) -> None:
    assert "X-RateLimit-Limit" not in (await send(http, sim, "GET", "users/me/")).headers


# ----------------------------------------------------------------------------- running


async def test_urls_and_lifecycle() -> None:
    sim = SimulatedGeobox()
    with pytest.raises(RuntimeError):
        _ = sim.base_url
    async with sim.running(host="127.0.0.1", port=0):
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert sim.base_url.endswith("/")
        assert sim.api_url == sim.base_url + "v1/"
        with pytest.raises(RuntimeError, match="already running"):
            await sim.start()
    with pytest.raises(RuntimeError):
        _ = sim.base_url


async def test_shutdown_is_quick_during_a_delay(http: aiohttp.ClientSession) -> None:
    plan = FaultPlan().sequence("*", Fault.delay(30))
    async with SimulatedGeobox(faults=plan) as sim:
        pending = asyncio.ensure_future(send(http, sim, "GET", "users/me/"))
        while not sim.requests:
            await asyncio.sleep(0.005)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    with pytest.raises(aiohttp.ClientError):
        await pending


async def test_serve_forever_until_cancelled(http: aiohttp.ClientSession) -> None:
    ready: asyncio.Queue[SimulatedGeobox] = asyncio.Queue()
    task = asyncio.ensure_future(serve_forever("127.0.0.1", 0, seed=4, on_ready=ready.put_nowait))
    sim = await asyncio.wait_for(ready.get(), 5)
    assert sim.seed == 4
    assert (await send(http, sim, "GET", "users/me/")).status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def _get_json(url: str, token: str = DEMO_ACCESS_TOKEN) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def test_thread_runner() -> None:
    with SimulatedGeobox(seed=2).in_thread() as sim:
        assert _get_json(sim.api_url + "users/me/")["id"] == DEMO_USER_ID
        sim.faults.sequence("users/me/", Fault.status(503))
        with pytest.raises(urllib.error.HTTPError) as caught:
            _get_json(sim.api_url + "users/me/")
        caught.value.close()
        assert caught.value.code == 503
        assert sim.count("GET", "users/me/") == 2
    with pytest.raises(RuntimeError):
        _ = sim.base_url

    sim = SimulatedGeobox().start_in_thread()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            sim.start_in_thread()
        assert _get_json(sim.api_url + "usage/summary") == sim.summary_of(DEMO_USER_ID)
    finally:
        sim.stop()


def test_thread_runner_reports_a_bind_failure() -> None:
    with SimulatedGeobox().in_thread() as first:
        port = int(first.base_url.rsplit(":", 1)[1].rstrip("/"))
        with pytest.raises(OSError, match="in use"):
            SimulatedGeobox().start_in_thread(port=port)


def test_pytest_plugin_fixtures(pytester: pytest.Pytester, request: pytest.FixtureRequest) -> None:
    pytester.makepyfile(
        """
        import json
        import urllib.request

        from geobox_usage.testing import DEMO_ACCESS_TOKEN, Fault


        def get(url):
            headers = {"Authorization": "Bearer " + DEMO_ACCESS_TOKEN}
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
                return json.loads(r.read())


        def test_sim(geobox_sim):
            assert get(geobox_sim.api_url + "users/me/")["id"] == 7
            assert geobox_sim.count() == 1


        def test_plan(geobox_sim, geobox_fault_plan):
            assert geobox_sim.faults is geobox_fault_plan
            geobox_fault_plan.sequence("users/me/", Fault.not_json())
            with urllib.request.urlopen(geobox_sim.api_url + "users/me/") as r:
                assert r.read() == b"OK"
        """
    )
    loaded = any(
        getattr(plugin, "__name__", "") == "geobox_usage.testing.pytest_plugin"
        for plugin in request.config.pluginmanager.get_plugins()
    )
    load = [] if loaded else ["-p", "geobox_usage.testing.pytest_plugin"]
    # No async plugin at all in the inner run: the fixtures must not need one.
    result = pytester.runpytest(
        *load, "-p", "no:asyncio", "-p", "no:aiohttp", "-p", "no:cacheprovider", "-W", "error"
    )
    result.assert_outcomes(passed=2)
