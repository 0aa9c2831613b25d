"""Side by side with the official SDK: one program, two clients, the same simulator.

The program is the official reference page's examples plus error cases, written once
against a namespace of names (``sdk.AsyncGeoboxClient``, ``sdk.UsageScale``, ...) so
that only the import differs. It runs through the official ``geobox.aio`` 2.11.0 client
and through ours, each against a fresh simulator with the same seed and frozen clock,
and the two runs are compared step by step: the requests on the wire (method, path,
query, body) and what the caller got (the value, or the name of the exception).

Every step must match, except the ones listed in ``DIFFERENCES``: each of those is a
deliberate difference, asserted here as exactly what it is, and listed in
``docs/migration.md`` under its tag.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl

import dotenv
import pytest

import geobox_usage
from geobox_usage.testing import (
    DEMO_API_KEY,
    DEMO_API_KEY_ID,
    DEMO_PASSWORD,
    DEMO_USER_ID,
    DEMO_USERNAME,
    OTHER_API_KEY_ID,
    OTHER_USER_ID,
    Fault,
    FaultPlan,
    SimulatedGeobox,
)

# Importing the official package loads a .env file into os.environ (dotenv.load_dotenv()
# in its __init__); keep the test run hermetic by importing it without that.
with mock.patch.object(dotenv, "load_dotenv", return_value=False):
    import geobox.aio
    import geobox.aio.apikey
    import geobox.aio.usage
    import geobox.aio.user
    import geobox.enums
    import geobox.exception

MIGRATION_PAGE = Path(__file__).resolve().parents[1] / "docs" / "migration.md"
FROZEN = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
TEHRAN = timezone(timedelta(hours=3, minutes=30))

_ERRORS = (
    "GeoboxError",
    "ApiRequestError",
    "AuthenticationError",
    "AuthorizationError",
    "NotFoundError",
    "ValidationError",
    "ServerError",
)

OFFICIAL = SimpleNamespace(
    AsyncGeoboxClient=geobox.aio.AsyncGeoboxClient,
    AsyncUsage=geobox.aio.usage.AsyncUsage,
    AsyncUser=geobox.aio.user.AsyncUser,
    AsyncApiKey=geobox.aio.apikey.AsyncApiKey,
    UsageScale=geobox.enums.UsageScale,
    UsageParam=geobox.enums.UsageParam,
    **{name: getattr(geobox.exception, name) for name in _ERRORS},
)
OURS = SimpleNamespace(
    AsyncGeoboxClient=geobox_usage.AsyncGeoboxClient,
    AsyncUsage=geobox_usage.AsyncUsage,
    AsyncUser=geobox_usage.AsyncUser,
    AsyncApiKey=geobox_usage.AsyncApiKey,
    UsageScale=geobox_usage.UsageScale,
    UsageParam=geobox_usage.UsageParam,
    **{name: getattr(geobox_usage, name) for name in _ERRORS},
)


# ----------------------------------------------------------------------------- the recorder


@dataclass
class Step:
    """One call of the program: what went on the wire and what the caller got."""

    label: str
    outcome: tuple[str, Any]
    wire: list[tuple[str, str, tuple[tuple[str, str], ...], Any]]
    error: Exception | None = None


@dataclass
class Run:
    """Runs the program's steps against one simulator and records each."""

    sim: SimulatedGeobox
    steps: list[Step] = field(default_factory=list)

    async def step(
        self, label: str, call: Awaitable[Any], *, fault: tuple[str, Fault] | None = None
    ) -> Any:
        if fault is not None:
            self.sim.faults = FaultPlan().sequence(*fault)
        before = len(self.sim.requests)
        value, error = None, None
        try:
            value = await call
            outcome: tuple[str, Any] = ("returned", _plain(value))
        except Exception as exc:
            outcome, error = ("raised", type(exc).__name__), exc
        finally:
            self.sim.faults = None
        wire = [(r.method, r.path, r.query, _body(r.body)) for r in self.sim.requests[before:]]
        self.steps.append(Step(label, outcome, wire, error))
        return value


def _plain(value: Any) -> Any:
    """A resource as what a caller reads of it; any other value as it is."""
    if hasattr(value, "base_url"):
        return "a client"
    if hasattr(value, "key_id"):
        return ("apikey", value.key_id, value.key, value.name, value.revoked, value.data)
    if hasattr(value, "user_id"):
        return ("user", value.user_id, value.username, value.email, value.data)
    return value


def _body(raw: bytes) -> Any:
    """A body as what it says: JSON decoded, a form as its pairs (both SDKs' spacing differ)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return tuple(parse_qsl(raw.decode()))


# ----------------------------------------------------------------------------- the program


async def reference_program(sdk: Any, host: str, closed_host: str, run: Run) -> None:
    """The reference page's examples and error cases, in the official SDK's names.

    ``closed_host`` is a URL where nothing listens (a refused connection).
    """
    Scale, Param, AsyncUsage = sdk.UsageScale, sdk.UsageParam, sdk.AsyncUsage

    async def wrong_password() -> None:
        async with sdk.AsyncGeoboxClient(host=host, username=DEMO_USERNAME, password="wrong"):
            pass  # the official client logs in on entering

    await run.step("wrong password", wrong_password())

    async with contextlib.AsyncExitStack() as stack:
        client = sdk.AsyncGeoboxClient(host=host, username=DEMO_USERNAME, password=DEMO_PASSWORD)
        await run.step("log in", stack.enter_async_context(client))

        # The reference page's examples.
        user = await run.step("get_user()", client.get_user())
        days5 = {"scale": Scale.Day, "param": Param.Calls, "days_before_now": 5}
        await run.step(
            "AsyncUsage.get_api_usage", AsyncUsage.get_api_usage(client, resource=user, **days5)
        )
        await run.step("client.get_api_usage", client.get_api_usage(resource=user, **days5))
        await run.step(
            "AsyncUsage.get_process_usage",
            AsyncUsage.get_process_usage(client, days_before_now=5),
        )
        await run.step("client.get_process_usage", client.get_process_usage(days_before_now=5))
        await run.step("AsyncUsage.get_usage_summary", AsyncUsage.get_usage_summary(client))
        await run.step("client.get_usage_summary", client.get_usage_summary())
        await run.step("AsyncUsage.update_usage", AsyncUsage.update_usage(client))
        await run.step("client.update_usage", client.update_usage())

        # More of the same operations.
        await run.step(
            "traffic by the hour over two days, cut to the server's 10",
            client.get_api_usage(user, Scale.Hour, Param.Traffict, days_before_now=2),
        )
        await run.step(
            "months between naive dates, limit=3",
            client.get_api_usage(
                user,
                Scale.Month,
                Param.Calls,
                datetime(2026, 1, 15),
                datetime(2026, 11, 1),
                None,
                3,
            ),
        )
        await run.step(
            "process usage between naive dates",
            client.get_process_usage(None, datetime(2026, 11, 1), datetime(2026, 11, 3, 12)),
        )
        await run.step("summary of user 7", client.get_usage_summary(user_id=DEMO_USER_ID))
        await run.step("update of user 7", client.update_usage(user_id=DEMO_USER_ID))
        await run.step("get_user(7)", client.get_user(DEMO_USER_ID))
        await run.step("get_user('7')", client.get_user(str(DEMO_USER_ID)))
        await run.step("process usage of user '7'", client.get_process_usage("7", None, None, 1))
        key = await run.step("get_apikey(3)", client.get_apikey(DEMO_API_KEY_ID))
        await run.step(
            "API usage of an API key",
            client.get_api_usage(key, Scale.Month, Param.Traffict, days_before_now=60),
        )
        hand_user = sdk.AsyncUser(client, DEMO_USER_ID, {"id": DEMO_USER_ID})
        await run.step(
            "AsyncUser(api, user_id, data) built by hand",
            client.get_api_usage(hand_user, Scale.Day, Param.Calls, days_before_now=2),
        )
        hand_key = sdk.AsyncApiKey(client, DEMO_API_KEY_ID, {"id": 3, "key": DEMO_API_KEY})
        await run.step(
            "AsyncApiKey(api, key_id, data) built by hand",
            client.get_api_usage(hand_key, Scale.Day, Param.Calls, days_before_now=2),
        )

        # Errors both raise.
        await run.step("no such user", client.get_user(99))
        await run.step("another user's summary", client.get_usage_summary(OTHER_USER_ID))
        await run.step("another user's API key", client.get_apikey(OTHER_API_KEY_ID))
        await run.step(
            "no period", client.get_api_usage(user, Scale.Day, Param.Calls)
        )  # ValueError, nothing sent
        await run.step(
            "a resource that is not a user",
            client.get_api_usage("me", Scale.Day, Param.Calls, days_before_now=1),
        )
        await run.step(
            "a limit above the server's maximum",
            client.get_api_usage(user, Scale.Day, Param.Calls, days_before_now=1, limit=5000),
        )
        # Valid JSON of an unexpected shape is handed back, after one request.
        await run.step(
            "an unexpected JSON shape",
            client.get_usage_summary(),
            fault=("GET usage/summary", Fault.status(200, detail="fine")),
        )

        # Deliberate differences (see DIFFERENCES).
        await run.step("update of user '7'", client.update_usage(user_id=str(DEMO_USER_ID)))
        await run.step(
            "aware dates",
            client.get_process_usage(
                from_date=datetime(2026, 11, 1, tzinfo=TEHRAN),
                to_date=datetime(2026, 11, 2, tzinfo=TEHRAN),
            ),
        )
        await run.step("user_id=0", client.get_process_usage(user_id=0, days_before_now=1))
        await run.step("get_user('abc')", client.get_user("abc"))
        await run.step("days_before_now='5'", client.get_process_usage(days_before_now="5"))
        await run.step(
            "scale and param as strings",
            client.get_api_usage(user, "day", "calls", days_before_now=1),
        )
        await run.step(
            "a 503 HTML page",
            client.get_process_usage(days_before_now=1),
            fault=("GET usage/process", Fault.status(503, html=True)),
        )
        await run.step(
            "a 429",
            client.get_usage_summary(),
            fault=("GET usage/summary", Fault.status(429, retry_after=0)),
        )

    async def refused_connection() -> None:
        async with sdk.AsyncGeoboxClient(host=closed_host, access_token="t") as unreachable:
            await unreachable.get_usage_summary()

    await run.step("a refused connection", refused_connection())


async def run_program(sdk: Any) -> list[Step]:
    async with SimulatedGeobox() as gone:
        closed_host = gone.base_url  # nothing listens there any more
    async with SimulatedGeobox(seed=5, now=lambda: FROZEN) as sim:
        run = Run(sim)
        await reference_program(sdk, sim.base_url, closed_host, run)
        return run.steps


# ----------------------------------------------------------------------------- differences

Check = Callable[[Step, Step], None]


def _same_wire_but_ours_sends_the_id_as_a_number(official: Step, ours: Step) -> None:
    assert official.outcome == ours.outcome
    assert official.wire == [("POST", "usage/update", (), {"user_id": "7"})]
    assert ours.wire == [("POST", "usage/update", (), {"user_id": 7})]


def _ours_sends_aware_dates_in_utc(official: Step, ours: Step) -> None:
    # The official SDK formats the wall-clock time and drops the offset.
    assert official.wire == [
        (
            "GET",
            "usage/process",
            (
                ("from_date", "2026-11-01T00:00:00.000000"),
                ("to_date", "2026-11-02T00:00:00.000000"),
            ),
            None,
        )
    ]
    assert ours.wire == [
        (
            "GET",
            "usage/process",
            (
                ("from_date", "2026-10-31T20:30:00.000000"),
                ("to_date", "2026-11-01T20:30:00.000000"),
            ),
            None,
        )
    ]
    assert official.outcome[0] == ours.outcome[0] == "returned"


def _ours_refuses_before_sending(official_sent: int) -> Check:
    def check(official: Step, ours: Step) -> None:
        assert len(official.wire) == official_sent
        assert ours.outcome == ("raised", "ValueError")
        assert ours.wire == []

    return check


def _official_returns_the_error_as_data_ours_retries(value: Any) -> Check:
    def check(official: Step, ours: Step) -> None:
        assert official.outcome == ("returned", value)  # the error page, handed back as data
        assert len(official.wire) == 1
        assert ours.outcome[0] == "returned"  # the real answer, after one retry
        assert ours.outcome[1] not in (None, {"detail": "Too many requests"})
        assert len(ours.wire) == 2
        assert ours.wire[0] == ours.wire[1] == official.wire[0]

    return check


def _official_fails_on_strings_ours_reads_them(official: Step, ours: Step) -> None:
    # The official SDK reads ``scale.value``: a plain string fails before anything is sent.
    assert official.outcome == ("raised", "AttributeError")
    assert official.wire == []
    assert ours.outcome[0] == "returned"
    assert ours.wire[0][2][1:3] == (("scale", "day"), ("param", "calls"))


def _both_raise_api_request_error_ours_a_transport_error(official: Step, ours: Step) -> None:
    assert isinstance(official.error, OFFICIAL.ApiRequestError)
    assert isinstance(ours.error, OURS.ApiRequestError)  # ``except ApiRequestError`` works
    assert ours.outcome == ("raised", "TransportError")  # its subclass, after retries
    # The official error's status_code holds a sentence; ours holds None (no answer).
    assert isinstance(official.error.status_code, str)
    assert ours.error.status_code is None
    assert official.wire == ours.wire == []


#: Step label -> (tag in docs/migration.md, what exactly differs).
DIFFERENCES: dict[str, tuple[str, Check]] = {
    "update of user '7'": ("id-as-number", _same_wire_but_ours_sends_the_id_as_a_number),
    "aware dates": ("aware-dates-in-utc", _ours_sends_aware_dates_in_utc),
    # The official SDK drops a user_id of 0 and reports on the current user.
    "user_id=0": ("validation", _ours_refuses_before_sending(official_sent=1)),
    # The official SDK sends users/abc/ and the server answers 422.
    "get_user('abc')": ("validation", _ours_refuses_before_sending(official_sent=1)),
    # The official SDK sends days_before_now=5; ours takes only an int.
    "days_before_now='5'": ("validation", _ours_refuses_before_sending(official_sent=1)),
    "scale and param as strings": ("strings-for-enums", _official_fails_on_strings_ours_reads_them),
    "a refused connection": (
        "transport-error",
        _both_raise_api_request_error_ours_a_transport_error,
    ),
    "a 503 HTML page": ("errors-as-data", _official_returns_the_error_as_data_ours_retries(None)),
    "a 429": (
        "errors-as-data",
        _official_returns_the_error_as_data_ours_retries({"detail": "Too many requests"}),
    ),
}


# ----------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def both_runs() -> tuple[list[Step], list[Step]]:
    import asyncio

    async def both() -> tuple[list[Step], list[Step]]:
        return await run_program(OFFICIAL), await run_program(OURS)

    return asyncio.run(both())


def test_the_program_runs_alike_through_the_official_sdk_and_ours(
    both_runs: tuple[list[Step], list[Step]],
) -> None:
    official, ours = both_runs
    assert [s.label for s in ours] == [s.label for s in official]
    for theirs, mine in zip(official, ours, strict=True):
        if theirs.label in DIFFERENCES:
            continue
        assert mine.wire == theirs.wire, theirs.label
        assert mine.outcome == theirs.outcome, theirs.label


@pytest.mark.parametrize("label", sorted(DIFFERENCES))
def test_each_remaining_difference_is_exactly_the_listed_one(
    both_runs: tuple[list[Step], list[Step]], label: str
) -> None:
    official, ours = (next(s for s in run if s.label == label) for run in both_runs)
    tag, check = DIFFERENCES[label]
    check(official, ours)
    assert f"`{tag}`" in MIGRATION_PAGE.read_text(), f"docs/migration.md does not list {tag}"


def test_the_runs_cover_what_the_issue_names(both_runs: tuple[list[Step], list[Step]]) -> None:
    """Spot checks that the compared program exercises what matters, in both runs."""
    for steps in both_runs:
        by_label = {s.label: s for s in steps}
        assert by_label["wrong password"].outcome == ("raised", "AuthenticationError")
        assert by_label["wrong password"].wire[0][:2] == ("POST", "auth/token/")
        assert by_label["log in"].wire == [
            (
                "POST",
                "auth/token/",
                (),
                (("username", DEMO_USERNAME), ("password", DEMO_PASSWORD)),
            )
        ]
        assert by_label["get_user()"].wire == [("GET", "users/me/", (("f", "json"),), None)]
        assert by_label["get_user('7')"].wire == [("GET", "users/7/", (("f", "json"),), None)]
        points = by_label["traffic by the hour over two days, cut to the server's 10"]
        assert len(points.outcome[1]) == 10
        assert isinstance(by_label["client.get_process_usage"].outcome[1], float)
        assert len(by_label["client.get_usage_summary"].outcome[1]) == 15
        assert by_label["no such user"].outcome == ("raised", "NotFoundError")
        assert by_label["another user's summary"].outcome == ("raised", "AuthorizationError")
        assert by_label["no period"].outcome == ("raised", "ValueError")
        assert by_label["no period"].wire == []
        assert by_label["a limit above the server's maximum"].outcome == (
            "raised",
            "ValidationError",
        )
        assert by_label["an unexpected JSON shape"].outcome == ("returned", {"detail": "fine"})
        for step in steps:  # one request per call, but for the listed retries
            if step.label not in ("a 503 HTML page", "a 429"):
                assert len(step.wire) <= 1, step.label
