"""The audit: every state-changing call leaves a ``geobox.audit`` event, whatever happens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture, capture_logs

from geobox_usage import AsyncGeoboxClient, AuthorizationError, ServerError
from geobox_usage.logs import AUDIT_LOGGER_NAME, LOGGER_NAME
from geobox_usage.testing import (
    DEMO_API_KEY,
    DEMO_API_KEY_ID,
    DEMO_PASSWORD,
    DEMO_USER_ID,
    DEMO_USERNAME,
    OTHER_USER_ID,
    Fault,
    FaultPlan,
    SimulatedGeobox,
)

from .stages._helpers import GatePlugin, wait_for

ClientFactory = Callable[..., AsyncGeoboxClient]
QUIET: dict[str, Any] = {"retry": None, "circuit_breaker": None, "rate_limit": None}


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def audits(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "geobox.audit"]


async def test_a_successful_update_is_audited_with_who_whom_and_request_id(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(**QUIET)
    await client.get_user()  # the client learns that its token belongs to user 7
    with capture_logs() as events:
        await client.update_usage()
    [audit] = audits(events)
    assert audit["actor"] == f"user:{DEMO_USER_ID}"
    assert audit["actor_kind"] == "access_token"
    assert audit["identity"] == client.context.identity
    assert audit["target"] == str(DEMO_USER_ID)  # "me", resolved
    assert audit["operation"] == "update_usage"
    assert (audit["outcome"], audit["status"], audit["error_type"]) == ("ok", 200, None)
    assert audit["geobox_request_id"] == sim.update_request_ids[-1]


async def test_reads_are_not_audited(make_client: ClientFactory) -> None:
    client = make_client(**QUIET)
    with capture_logs() as events:
        await client.get_usage_summary()
    assert audits(events) == []


async def test_before_the_user_is_known_the_actor_is_the_credential_fingerprint(
    make_client: ClientFactory,
) -> None:
    client = make_client(username=DEMO_USERNAME, password=DEMO_PASSWORD, **QUIET)
    with capture_logs() as events:
        await client.update_usage()
    [audit] = audits(events)
    assert audit["actor"] == client.context.identity
    assert audit["actor"].startswith("password:")
    assert audit["target"] == "me"


async def test_an_api_key_actor_is_named_by_its_id_never_by_the_key(
    make_client: ClientFactory,
) -> None:
    client = make_client(apikey=DEMO_API_KEY, **QUIET)
    await client.get_apikey(DEMO_API_KEY_ID)
    with capture_logs() as events:
        await client.update_usage(DEMO_USER_ID)
    [audit] = audits(events)
    assert audit["actor"] == f"apikey:{DEMO_API_KEY_ID}"
    assert audit["actor_kind"] == "apikey"
    assert audit["target"] == str(DEMO_USER_ID)
    assert DEMO_API_KEY not in repr(audit)


async def test_a_refused_update_is_audited(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(**QUIET)
    with capture_logs() as events, pytest.raises(AuthorizationError) as raised:
        await client.update_usage(OTHER_USER_ID)
    [audit] = audits(events)
    assert (audit["outcome"], audit["status"]) == ("error", 403)
    assert audit["error_type"] == "AuthorizationError"
    assert audit["target"] == str(OTHER_USER_ID)
    assert audit["geobox_request_id"] == raised.value.request_id == sim.requests[-1].request_id


async def test_an_update_whose_answer_was_lost_is_audited(
    sim: SimulatedGeobox, fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    fault_plan.sequence("POST usage/update", Fault.status(502, html=True))
    client = make_client(**QUIET)
    with capture_logs() as events, pytest.raises(ServerError):
        await client.update_usage()
    [audit] = audits(events)
    assert (audit["outcome"], audit["status"], audit["error_type"]) == ("error", 502, "ServerError")
    assert sim.updates_performed == 1
    assert audit["geobox_request_id"] == sim.update_request_ids[0]


async def test_a_cancelled_update_is_audited(make_client: ClientFactory) -> None:
    gate = GatePlugin("update_usage")
    client = make_client(plugins=[gate], **QUIET)
    with capture_logs() as events:
        task = asyncio.create_task(client.update_usage())
        await wait_for(gate.entered)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    [audit] = audits(events)
    assert audit["outcome"] == "cancelled"


async def test_the_audit_passes_a_stdlib_level_that_drops_everything_else(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the root handler takes INFO...
    library = logging.getLogger(LOGGER_NAME)
    library.setLevel(logging.ERROR)  # ...but the host silences the library below ERROR
    try:
        client = make_client(**QUIET)
        with pytest.raises(AuthorizationError):
            await client.update_usage(OTHER_USER_ID)
        await client.update_usage()
    finally:
        library.setLevel(logging.NOTSET)
    names = [(r.name, getattr(r, "geobox_event", None)) for r in caplog.records]
    assert names == [(AUDIT_LOGGER_NAME, "geobox.audit")] * 2
    assert [getattr(r, "outcome", None) for r in caplog.records] == ["error", "ok"]


async def test_the_audit_passes_a_configured_structlog_level_filter(
    make_client: ClientFactory,
) -> None:
    cap = LogCapture()
    structlog.configure(
        processors=[cap], wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR)
    )
    client = make_client(**QUIET)
    with pytest.raises(AuthorizationError):
        await client.update_usage(OTHER_USER_ID)
    await client.get_usage_summary()
    assert [e["event"] for e in cap.entries] == ["geobox.audit"]
    assert cap.entries[0]["outcome"] == "error"
