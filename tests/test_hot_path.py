"""Guards on the per-call work: what a call must not build when nothing needs it.

Not timings (those are the benchmark's): counts of objects a profiler showed to cost, so
that per-call work that comes back fails a fast test.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import pytest
import structlog

from geobox_usage import CacheConfig
from geobox_usage import events as events_module
from geobox_usage.logs import _emit
from geobox_usage.testing import SimulatedGeobox

from .conftest import ClientFactory


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts pipeline events built and log events emitted."""
    counts = {"events": 0, "logged": 0, "tasks": 0}
    real_event, real_emit = events_module.PipelineEvent, _emit.emit

    def event(*args: Any, **kwargs: Any) -> Any:
        counts["events"] += 1
        return real_event(*args, **kwargs)

    def emit(*args: Any, **kwargs: Any) -> None:
        counts["logged"] += 1
        real_emit(*args, **kwargs)

    monkeypatch.setattr(events_module, "PipelineEvent", event)
    monkeypatch.setattr(_emit, "emit", emit)
    monkeypatch.setattr("geobox_usage.stages.logging.emit", emit)
    return counts


@pytest.mark.parametrize("host_logging", ["structlog-warning", "stdlib-warning"])
async def test_a_call_whose_events_no_logger_wants_builds_none(
    sim: SimulatedGeobox,
    make_client: ClientFactory,
    counted: dict[str, int],
    host_logging: str,
) -> None:
    if host_logging == "structlog-warning":
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    else:
        logging.getLogger("geobox_usage").setLevel(logging.WARNING)
    try:
        client = make_client()
        for days in range(1, 6):  # distinct calls, all successful at the first attempt
            await client.get_process_usage(days_before_now=days)
    finally:
        logging.getLogger("geobox_usage").setLevel(logging.NOTSET)
    assert counted == {"events": 0, "logged": 0, "tasks": 0}


async def test_the_same_calls_are_logged_when_a_logger_wants_them(
    sim: SimulatedGeobox, make_client: ClientFactory, counted: dict[str, int]
) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    client = make_client()
    for days in range(1, 6):
        await client.get_process_usage(days_before_now=days)
    assert counted["events"] == 5  # one geobox.attempt per call
    assert counted["logged"] == 10  # and each call's geobox.call


async def test_a_get_that_no_one_shares_creates_no_task_or_future(
    sim: SimulatedGeobox, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client()
    await client.get_process_usage(days_before_now=1)  # warm: the session exists
    loop = asyncio.get_running_loop()
    made = {"tasks": 0, "futures": 0}
    real_task, real_future = loop.create_task, loop.create_future

    def ours() -> bool:
        # Made by this library's own code (not by aiohttp, nor by the simulator serving
        # on this loop): the frame that asked for it is one of ours.
        caller = sys._getframe(2).f_code.co_filename
        return "geobox_usage" in caller and "testing" not in caller

    def task(*args: Any, **kwargs: Any) -> Any:
        made["tasks"] += ours()
        return real_task(*args, **kwargs)

    def future() -> Any:
        made["futures"] += ours()
        return real_future()

    monkeypatch.setattr(loop, "create_task", task)
    monkeypatch.setattr(loop, "create_future", future)
    await client.get_process_usage(days_before_now=2)
    assert made == {"tasks": 0, "futures": 0}  # the pipeline starts none for a lone call


async def test_a_call_no_one_shares_is_led_without_single_flight_s_coroutine(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geobox_usage.caching._singleflight import SingleFlight

    runs = {"run": 0}
    real_run = SingleFlight.run

    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        runs["run"] += 1
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(SingleFlight, "run", run)
    client = make_client()
    for days in range(1, 4):
        await client.get_process_usage(days_before_now=days)
    assert runs["run"] == 0  # led in the cache stage's frame
    calls = [client.get_process_usage(days_before_now=9) for _ in range(3)]
    assert len({str(r) for r in await asyncio.gather(*calls)}) == 1
    assert runs["run"] == 2  # only the two callers that found the call in flight follow


async def test_calls_arm_no_timer_of_their_own(
    sim: SimulatedGeobox, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client()
    await client.get_process_usage(days_before_now=1)  # warm: the deadline watch is armed
    loop = asyncio.get_running_loop()
    armed = {"ours": 0}
    real_call_at = loop.call_at

    def call_at(*args: Any, **kwargs: Any) -> Any:
        # Who asked, past asyncio's own helpers (asyncio.timeout, call_later): this
        # library, or aiohttp (its read timeouts) or the simulator.
        frame = sys._getframe(1)
        while frame.f_back is not None and "asyncio" in frame.f_code.co_filename:
            frame = frame.f_back
        caller = frame.f_code.co_filename
        armed["ours"] += "geobox_usage" in caller and "testing" not in caller
        return real_call_at(*args, **kwargs)

    monkeypatch.setattr(loop, "call_at", call_at)
    for days in range(2, 12):
        await client.get_process_usage(days_before_now=days)
    # One deadline timer serves every call (asyncio.timeout armed one per call).
    assert armed == {"ours": 0}


async def test_a_cache_key_is_encoded_once_per_distinct_call(
    sim: SimulatedGeobox, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geobox_usage.stages import cache as cache_stage

    encoded = {"keys": 0}
    real_cache_key = cache_stage.cache_key

    def cache_key(**kwargs: Any) -> str:
        encoded["keys"] += 1
        return real_cache_key(**kwargs)

    monkeypatch.setattr(cache_stage, "cache_key", cache_key)
    client = make_client(cache=CacheConfig(ttl=60.0))
    for _ in range(10):  # one miss, then nine hits
        await client.get_usage_summary()
    await client.get_process_usage(days_before_now=1)
    assert encoded == {"keys": 2}  # one per distinct call, not one per hit


@pytest.mark.parametrize("host_level", [0, 10, 20, 30, 40, 50])
def test_the_level_check_answers_as_the_hosts_filtering_logger_does(host_level: int) -> None:
    # For structlog's filtering loggers the answer is a comparison made without a call;
    # it must be the very answer the host's logger gives, for every level.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(host_level))
    try:
        logger = structlog.get_logger("x").bind()
        for level in (0, 5, 10, 15, 20, 30, 40, 50, 60):
            assert _emit.enabled(level) is logger.is_enabled_for(level), level
    finally:
        structlog.reset_defaults()


def test_a_stdlib_wrapper_is_asked_each_time_so_a_changed_level_is_seen() -> None:
    structlog.configure(
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
    )
    stdlib = logging.getLogger(_emit.LOGGER_NAME)
    before = stdlib.level
    try:
        stdlib.setLevel(logging.WARNING)
        assert not _emit.enabled(logging.INFO)
        stdlib.setLevel(logging.DEBUG)
        assert _emit.enabled(logging.INFO)
    finally:
        stdlib.setLevel(before)
        structlog.reset_defaults()
