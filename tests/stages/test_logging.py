"""The logging stage: call and attempt events, request ids, contextvars, both log routes."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from structlog.contextvars import bind_contextvars, merge_contextvars
from structlog.testing import LogCapture, capture_logs

import geobox_usage
from geobox_usage import AsyncGeoboxClient, CacheConfig, NotFoundError
from geobox_usage.logs import configure_demo_logging, current_request_id
from geobox_usage.testing import DEMO_API_KEY, DEMO_USER_ID, SimulatedGeobox

ClientFactory = Callable[..., AsyncGeoboxClient]
QUIET: dict[str, Any] = {"retry": None, "circuit_breaker": None, "rate_limit": None}


def named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


async def test_one_call_event_with_every_field(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(apikey=DEMO_API_KEY, cache=CacheConfig(), **QUIET)
    user = await client.get_user(DEMO_USER_ID)
    with capture_logs() as events:
        await client.get_api_usage(user, "day", "traffic", days_before_now=3, limit=2)
    [call] = named(events, "geobox.call")
    sent = sim.requests[-1]
    assert call["log_level"] == "info"
    assert call["operation"] == "get_api_usage"
    assert call["method"] == "GET"
    assert call["path"] == "/v1/usage/api"
    assert call["query"] == "eid=7&scale=day&param=traffic&days_before_now=3&limit=2"
    assert call["target"] == str(DEMO_USER_ID)
    assert call["status"] == 200
    assert call["attempts"] == 1
    assert call["cache"] == "miss"
    assert call["outcome"] == "ok"
    assert call["geobox_request_id"] == sent.header("X-Request-ID")
    assert isinstance(call["duration_ms"], float) and call["duration_ms"] >= 0
    assert "error_type" not in call and "error" not in call  # no value: left out


async def test_fields_without_a_value_are_left_out_not_written_as_null(
    make_client: ClientFactory,
) -> None:
    async with SimulatedGeobox() as gone:
        host = gone.base_url  # nothing listens there any more
    client = make_client(host=host, **QUIET)  # no cache: nothing cached nor shared
    with capture_logs() as events, pytest.raises(geobox_usage.TransportError):
        await client.get_usage_summary()
    [call] = named(events, "geobox.call")
    assert call["outcome"] == "error"
    assert call["error_type"] == "TransportError" and "cannot connect" in call["error"]
    assert {"status", "cache"}.isdisjoint(call)  # no answer came; no cache took part
    assert None not in call.values()


async def test_the_call_event_s_duration_has_at_most_three_decimals(
    make_client: ClientFactory,
) -> None:
    client = make_client(**QUIET)
    with capture_logs() as events:
        for _ in range(20):
            await client.get_usage_summary()
    for call in named(events, "geobox.call"):
        duration = call["duration_ms"]
        assert duration == round(duration, 3) and len(repr(duration).split(".")[1]) <= 3


async def test_a_failed_call_is_a_warning_with_the_error(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(**QUIET)
    with capture_logs() as events, pytest.raises(NotFoundError) as raised:
        await client.get_user(9999)
    [call] = named(events, "geobox.call")
    assert call["log_level"] == "warning"
    assert call["outcome"] == "error"
    assert call["status"] == 404
    assert call["error_type"] == "NotFoundError"
    assert call["geobox_request_id"] == raised.value.request_id == sim.requests[-1].request_id
    assert "User not found" in call["error"]


async def test_every_call_gets_its_own_request_id_sent_and_logged(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(**QUIET)
    with capture_logs() as events:
        await client.get_usage_summary()
        await client.get_user()
    sent = [r.header("X-Request-ID") for r in sim.requests]
    logged = [e["geobox_request_id"] for e in named(events, "geobox.call")]
    assert logged == sent
    assert len(set(sent)) == 2 and all(s and len(s) == 32 for s in sent)


async def test_a_caller_supplied_request_id_is_used_everywhere(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(**QUIET)
    with capture_logs() as events, geobox_usage.request_id("trace-abc-123"):
        assert current_request_id() == "trace-abc-123"
        await client.get_usage_summary()
        with pytest.raises(NotFoundError) as raised:
            await client.get_user(9999)
    assert current_request_id() is None
    assert [r.header("X-Request-ID") for r in sim.requests] == ["trace-abc-123"] * 2
    assert raised.value.request_id == "trace-abc-123"
    assert "trace-abc-123" in str(raised.value)
    assert {e["geobox_request_id"] for e in events if "geobox_request_id" in e} == {"trace-abc-123"}


@pytest.mark.parametrize("bad", ["", "two words", "line\nbreak", "x" * 201])
def test_a_request_id_must_be_a_safe_header_value(bad: str) -> None:
    with pytest.raises(ValueError, match="request_id"), geobox_usage.request_id(bad):
        pass


async def test_attempt_waits_and_give_ups_are_visible_without_debug(
    make_client: ClientFactory,
) -> None:
    client = make_client(**QUIET)
    bus = client.context.events
    with capture_logs() as events:
        common = {"operation": "get_usage_summary", "method": "GET", "path": "/v1/usage/summary"}
        first = {"request_id": "r1", "status": 503, "outcome": "error"}
        bus.emit("geobox.attempt", **common, **first, attempt=1, duration_ms=1.5,
                 error_type="ServerError", wait_s=0.4, wait_reason="retry-after",
                 will_retry=True)  # fmt: skip
        bus.emit("geobox.attempt", **common, **first, attempt=2, will_retry=False,
                 give_up_reason="attempts exhausted")  # fmt: skip
        bus.emit("geobox.attempt", **common, request_id="r2", attempt=1, status=200,
                 outcome="ok", will_retry=False)  # fmt: skip
        bus.emit("geobox.breaker", host="h", old_state="closed", new_state="open", failures=5)
        bus.emit("geobox.ratelimit", action="slow_down", rate=2.0, reason="429", pause_s=0.5)
        bus.emit("geobox.auth", action="token_obtained", reason="first use", expires_in=3600.0,
                 request_id="r3")  # fmt: skip
    levels = [(e["event"], e["log_level"]) for e in events]
    assert levels == [
        ("geobox.attempt", "info"),
        ("geobox.attempt", "warning"),
        ("geobox.attempt", "debug"),  # a first attempt that worked: the call event says it all
        ("geobox.breaker", "warning"),
        ("geobox.ratelimit", "info"),
        ("geobox.auth", "info"),
    ]
    assert events[0]["wait_s"] == 0.4 and events[0]["wait_reason"] == "retry-after"
    assert events[1]["give_up_reason"] == "attempts exhausted"


async def test_host_contextvars_appear_in_structlog_events(make_client: ClientFactory) -> None:
    client = make_client(**QUIET)
    bind_contextvars(trace_id="trace-77", tenant="acme")
    with capture_logs(processors=[merge_contextvars]) as events:  # as a configured host has it
        await client.get_usage_summary()
    [call] = named(events, "geobox.call")
    assert (call["trace_id"], call["tenant"]) == ("trace-77", "acme")


async def test_without_structlog_configured_events_are_structured_stdlib_records(
    sim: SimulatedGeobox, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    assert not structlog.is_configured()
    client = make_client(**QUIET)
    bind_contextvars(trace_id="trace-88", tenant="acme")
    caplog.set_level(logging.INFO, logger="geobox_usage")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        await client.get_usage_summary()
    assert out.getvalue() == ""  # nothing printed by structlog's default PrintLogger
    [record] = [r for r in caplog.records if getattr(r, "geobox_event", None) == "geobox.call"]
    assert record.name == "geobox_usage"
    assert record.levelno == logging.INFO
    assert record.operation == "get_usage_summary"  # type: ignore[attr-defined]
    assert record.status == 200  # type: ignore[attr-defined]
    assert record.geobox_request_id == sim.requests[-1].request_id  # type: ignore[attr-defined]
    assert record.trace_id == "trace-88"  # type: ignore[attr-defined]
    assert record.geobox["tenant"] == "acme"  # type: ignore[attr-defined]
    assert record.getMessage().startswith("geobox.call operation=get_usage_summary")


async def test_the_host_s_stdlib_level_is_respected(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(**QUIET)
    caplog.set_level(logging.WARNING, logger="geobox_usage")
    await client.get_usage_summary()
    assert not [r for r in caplog.records if r.name == "geobox_usage"]
    caplog.set_level(logging.DEBUG, logger="geobox_usage")
    await client.get_usage_summary()
    assert {getattr(r, "geobox_event", None) for r in caplog.records} >= {"geobox.call"}


async def test_a_configured_host_s_level_filter_is_respected(make_client: ClientFactory) -> None:
    client = make_client(**QUIET)
    cap = LogCapture()
    structlog.configure(
        processors=[cap], wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR)
    )
    await client.get_usage_summary()
    assert cap.entries == []


async def test_a_failing_host_processor_never_breaks_a_call(
    sim: SimulatedGeobox, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_logger: Any, _method: str, _event: Any) -> Any:
        raise RuntimeError("host bug")

    structlog.configure(processors=[broken])
    client = make_client(**QUIET)
    assert await client.get_usage_summary() == sim.summary_of(DEMO_USER_ID)
    assert any("could not log" in r.getMessage() for r in caplog.records)


async def test_demo_logging_prints_json_lines(make_client: ClientFactory) -> None:
    stream = io.StringIO()
    configure_demo_logging(json=True, stream=stream)
    client = make_client(**QUIET)
    await client.get_usage_summary()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [call] = [line for line in lines if line["event"] == "geobox.call"]
    assert call["operation"] == "get_usage_summary" and call["level"] == "info"
    assert "timestamp" in call


async def test_demo_logging_prints_readable_console_lines(make_client: ClientFactory) -> None:
    stream = io.StringIO()
    configure_demo_logging(json=False, stream=stream)
    client = make_client(**QUIET)
    await client.update_usage()
    text = stream.getvalue()
    assert "geobox.call" in text and "operation=update_usage" in text
    assert "geobox.audit" in text
    assert not text.lstrip().startswith("{")


def test_an_unconfigured_application_gets_no_stray_output() -> None:
    """A failed call in a program that configured no logging prints nothing on stderr."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import asyncio
        from geobox_usage import AsyncGeoboxClient, ServerError
        from geobox_usage.testing import DEMO_ACCESS_TOKEN, Fault, FaultPlan, SimulatedGeobox

        async def main():
            plan = FaultPlan().sequence("usage/summary", Fault.status(500))
            async with SimulatedGeobox(faults=plan) as sim:
                async with AsyncGeoboxClient(
                    sim.base_url, access_token=DEMO_ACCESS_TOKEN, retry=None
                ) as client:
                    try:
                        await client.get_usage_summary()
                    except ServerError:
                        print("failed as expected")

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "failed as expected"
    assert result.stderr == ""
