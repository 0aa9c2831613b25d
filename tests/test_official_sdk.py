"""One program, the reference page's examples plus error cases, run through the official
SDK (``geobox[async]==2.11.0``) and through this client against the simulator.

Only the imports differ. The requests on the wire (method, path, query, body) and the
values returned must be the same; every difference that remains is listed in
``docs/migration.md`` and asserted below as the deliberate one it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest

import geobox_usage
import geobox_usage.errors
from geobox_usage.testing import (
    DEMO_API_KEY_ID,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    OTHER_USER_ID,
    Fault,
    FaultPlan,
    SimulatedGeobox,
)

official_aio = pytest.importorskip("geobox.aio")
official_enums = pytest.importorskip("geobox.enums")
official_errors = pytest.importorskip("geobox.exception")
official_usage = pytest.importorskip("geobox.aio.usage")

FROZEN = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
START, END = datetime(2026, 11, 1), datetime(2026, 11, 15, 6)


@dataclass(frozen=True)
class Library:
    """What a program imports: the only thing that changes between the two runs."""

    client: Callable[..., Any]
    usage: Any
    scale: Any
    param: Any
    errors: ModuleType


OFFICIAL = Library(
    official_aio.AsyncGeoboxClient,
    official_usage.AsyncUsage,
    official_enums.UsageScale,
    official_enums.UsageParam,
    official_errors,
)
OURS = Library(
    geobox_usage.AsyncGeoboxClient,
    geobox_usage.AsyncUsage,
    geobox_usage.UsageScale,
    geobox_usage.UsageParam,
    geobox_usage.errors,
)


async def program(lib: Library, host: str) -> list[tuple[str, Any]]:
    """The reference page's examples, then the errors code written for it handles."""
    seen: list[tuple[str, Any]] = []
    async with lib.client(host=host, username=DEMO_USERNAME, password=DEMO_PASSWORD) as client:
        user = await client.get_user()
        seen.append(("user", (user.user_id, user.data)))
        seen.append(("api usage", await lib.usage.get_api_usage(
            client, resource=user, scale=lib.scale.Day, param=lib.param.Calls,
            days_before_now=5)))  # fmt: skip
        seen.append(("api usage, client", await client.get_api_usage(
            resource=user, scale=lib.scale.Hour, param=lib.param.Traffict,  # the official spelling
            from_date=START, to_date=END, limit=40)))  # fmt: skip
        key = await client.get_apikey(DEMO_API_KEY_ID)
        seen.append(("key", (key.key_id, key.data)))
        seen.append(("api usage of a key", await client.get_api_usage(
            resource=key, scale=lib.scale.Month, param=lib.param.Calls,
            days_before_now=90)))  # fmt: skip
        seen.append(("process", await lib.usage.get_process_usage(client, days_before_now=5)))
        seen.append(("process, client", await client.get_process_usage(
            from_date=START, to_date=END)))  # fmt: skip
        seen.append(("summary", await lib.usage.get_usage_summary(client)))
        seen.append(("summary, client", await client.get_usage_summary()))
        seen.append(("update", await lib.usage.update_usage(client)))
        seen.append(("update, client", await client.update_usage()))
        for name, call in (
            ("missing user", lambda: client.get_user(OTHER_USER_ID + 1000)),
            ("another's summary", lambda: client.get_usage_summary(user_id=OTHER_USER_ID)),
            ("no period", lambda: client.get_process_usage()),
        ):
            try:
                await call()
            except lib.errors.ApiRequestError:  # the official handler order
                seen.append((name, "no answer"))
            except lib.errors.NotFoundError:
                seen.append((name, "not found"))
            except lib.errors.AuthorizationError:
                seen.append((name, "not allowed"))
            except ValueError:
                seen.append((name, "refused before sending"))
    return seen


async def run(lib: Library) -> tuple[list[tuple[str, Any]], list[tuple[str, str, Any, Any]]]:
    """The program's results and the requests the simulator received."""
    async with SimulatedGeobox(seed=5, now=lambda: FROZEN) as sim:
        results = await program(lib, sim.base_url)
        wire = [
            (r.method, r.path, r.query, json.loads(r.body) if r.body.startswith(b"{") else r.body)
            for r in sim.requests
        ]
    return results, wire


async def test_the_same_program_through_both_clients() -> None:
    official_results, official_wire = await run(OFFICIAL)
    our_results, our_wire = await run(OURS)
    assert our_wire == official_wire
    assert our_results == official_results
    assert dict(our_results)["missing user"] == "not found"
    assert dict(our_results)["another's summary"] == "not allowed"
    assert dict(our_results)["no period"] == "refused before sending"
    assert len(our_wire) == 14  # the login, then one request per call: nothing repeated


async def test_a_wrong_password_raises_on_entering_in_both() -> None:
    for lib in (OFFICIAL, OURS):
        async with SimulatedGeobox() as sim:
            with pytest.raises(lib.errors.AuthenticationError):
                async with lib.client(host=sim.base_url, username=DEMO_USERNAME,
                                      password="wrong"):  # fmt: skip
                    pytest.fail("entered")


# -- the differences that remain, each deliberate (docs/migration.md) ---------------------


async def test_difference_aware_datetimes_are_sent_in_utc() -> None:
    tehran = timezone(timedelta(hours=3, minutes=30))
    sent: dict[str, str] = {}
    for name, lib in (("official", OFFICIAL), ("ours", OURS)):
        async with (
            SimulatedGeobox(now=lambda: FROZEN) as sim,
            lib.client(host=sim.base_url, username=DEMO_USERNAME, password=DEMO_PASSWORD) as client,
        ):
            await client.get_process_usage(
                from_date=datetime(2026, 11, 1, 3, 30, tzinfo=tehran),
                to_date=datetime(2026, 11, 2, 3, 30, tzinfo=tehran),
            )
            sent[name] = dict(sim.requests[-1].query)["from_date"]
    assert sent == {
        "official": "2026-11-01T03:30:00.000000",  # the wall time, its offset dropped
        "ours": "2026-11-01T00:00:00.000000",  # the same instant, in UTC
    }


async def test_difference_error_statuses_raise_instead_of_returning_data() -> None:
    returned: dict[str, Any] = {}
    for name, lib in (("official", OFFICIAL), ("ours", OURS)):
        plan = FaultPlan().sequence("usage/summary", *[Fault.status(429, detail="slow down")] * 4)
        async with (
            SimulatedGeobox(faults=plan) as sim,
            lib.client(host=sim.base_url, username=DEMO_USERNAME, password=DEMO_PASSWORD) as client,
        ):
            try:
                returned[name] = await client.get_usage_summary()
            except Exception as exc:  # what each one does with a 429 is the point
                returned[name] = type(exc).__name__
    assert returned == {"official": {"detail": "slow down"}, "ours": "RateLimitError"}
