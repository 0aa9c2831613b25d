"""Item 14: a host's request id, bound in structlog's contextvars, is never overwritten.

The usual way to correlate a web request's logs is
``structlog.contextvars.bind_contextvars(request_id=...)``. The client sends that id as
its ``X-Request-ID`` (from a configurable key) and logs its own id under
``geobox_request_id``, so the host's ``request_id`` is the same in every event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.contextvars import bind_contextvars, merge_contextvars
from structlog.testing import LogCapture

from geobox_usage import NotFoundError, request_id
from geobox_usage.testing import SimulatedGeobox
from tests.conftest import ClientFactory


@pytest.fixture
def host_logs() -> Iterator[list[dict[str, Any]]]:
    """structlog configured as a host does it: contextvars merged into every event."""
    capture = LogCapture()
    structlog.configure(processors=[merge_contextvars, capture])
    yield capture.entries
    structlog.reset_defaults()


def geobox_events(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if str(e.get("event", "")).startswith("geobox.")]


async def test_the_hosts_request_id_is_sent_and_never_overwritten(
    sim: SimulatedGeobox, make_client: ClientFactory, host_logs: list[dict[str, Any]]
) -> None:
    client = make_client(retry=None)
    bind_contextvars(request_id="host-req-1")
    await client.get_usage_summary()
    with pytest.raises(NotFoundError) as caught:
        await client.get_user(99)
    events = geobox_events(host_logs)
    assert [e["event"] for e in events].count("geobox.call") == 2
    assert {e["request_id"] for e in events} == {"host-req-1"}
    assert {e["geobox_request_id"] for e in events} == {"host-req-1"}
    assert [r.header("X-Request-ID") for r in sim.requests] == ["host-req-1"] * 2
    assert caught.value.request_id == "host-req-1"


async def test_the_key_the_hosts_id_is_read_from_is_configurable(
    sim: SimulatedGeobox, make_client: ClientFactory, host_logs: list[dict[str, Any]]
) -> None:
    client = make_client(host_request_id_key="correlation_id")
    bind_contextvars(correlation_id="corr-9", request_id="not-this-one")
    await client.get_usage_summary()
    assert sim.requests[-1].header("X-Request-ID") == "corr-9"
    [call] = [e for e in host_logs if e["event"] == "geobox.call"]
    assert call["request_id"] == "not-this-one"  # the host's field, untouched
    assert call["geobox_request_id"] == "corr-9"


async def test_without_a_key_the_library_uses_its_own_id_in_its_own_field(
    sim: SimulatedGeobox, make_client: ClientFactory, host_logs: list[dict[str, Any]]
) -> None:
    client = make_client(host_request_id_key=None)
    bind_contextvars(request_id="host-req-2")
    await client.get_usage_summary()
    sent = sim.requests[-1].header("X-Request-ID")
    assert sent != "host-req-2" and sent is not None and len(sent) == 32
    [call] = [e for e in host_logs if e["event"] == "geobox.call"]
    assert (call["request_id"], call["geobox_request_id"]) == ("host-req-2", sent)


async def test_an_explicit_request_id_block_wins_over_the_hosts_binding(
    sim: SimulatedGeobox, make_client: ClientFactory, host_logs: list[dict[str, Any]]
) -> None:
    client = make_client()
    bind_contextvars(request_id="host-req-3")
    with request_id("block-id"):
        await client.get_usage_summary()
    assert sim.requests[-1].header("X-Request-ID") == "block-id"


@pytest.mark.parametrize("unsafe", ["two words", "line\nbreak", "x" * 201, 12345, ""])
async def test_a_host_id_that_is_not_a_safe_header_value_is_not_sent(
    sim: SimulatedGeobox,
    make_client: ClientFactory,
    host_logs: list[dict[str, Any]],
    unsafe: object,
) -> None:
    client = make_client()
    bind_contextvars(request_id=unsafe)
    await client.get_usage_summary()
    sent = sim.requests[-1].header("X-Request-ID")
    assert sent is not None and len(sent) == 32
    [call] = [e for e in host_logs if e["event"] == "geobox.call"]
    assert call["request_id"] == unsafe


async def test_on_the_stdlib_route_the_hosts_binding_is_kept_too(
    sim: SimulatedGeobox, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    bind_contextvars(request_id="host-req-4")
    caplog.set_level(logging.INFO, logger="geobox_usage")
    await client.get_usage_summary()
    [record] = [r for r in caplog.records if getattr(r, "geobox_event", None) == "geobox.call"]
    assert record.request_id == "host-req-4"  # type: ignore[attr-defined]
    assert record.geobox_request_id == "host-req-4"  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", ["", 3, b"request_id"])
def test_the_key_must_be_a_name_or_none(make_client: ClientFactory, bad: object) -> None:
    with pytest.raises(ValueError, match="host_request_id_key must be a non-empty str or None"):
        make_client(host_request_id_key=bad)


def test_new_request_ids_are_uuid4_hex_unique_and_a_forked_worker_draws_its_own() -> None:
    import os
    import uuid

    from geobox_usage.logs._request_id import new_request_id

    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for rid in ids[:100]:
        parsed = uuid.UUID(rid)
        assert parsed.hex == rid and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    if not hasattr(os, "fork"):
        return
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a worker forked by a pre-fork server, say
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    # A forked worker must not repeat its parent's ids: its random half is its own.
    assert child[:16] != new_request_id()[:16]
