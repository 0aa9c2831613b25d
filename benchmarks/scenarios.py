"""What one call is, for each client the benchmark compares.

A scenario opens its client against a server's base URL and hands back ``call(user_id)``,
one ``GET usage/summary`` for that user that returns the decoded JSON. Every call of a
measured run asks for a different user (single flight would merge identical calls and
flatter the client), except in the cache-hit scenario, which measures exactly that.

Logging is set up as a host application would and written to ``os.devnull``, so each
row pays for formatting and writing its lines but not for a terminal:

* structlog, for the rows that say so: ``merge_contextvars``, the level, an ISO
  timestamp and ``JSONRenderer``, filtered by level with ``make_filtering_bound_logger``;
* the standard library's ``logging`` for the official SDK, which logs with it
  (one ``Request successful`` line per call at INFO).

Only the official SDK's rows import it, so the other rows do not pay for its import.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from unittest import mock

import aiohttp
import structlog

from geobox_usage import AsyncGeoboxClient, CacheConfig

from .server import BENCH_TOKEN, FIRST_USER_ID

__all__ = [
    "SCENARIOS",
    "SCENARIO_NAMES",
    "SDK_SCENARIOS",
    "Call",
    "Scenario",
    "default_client",
    "scenario",
]

Call = Callable[[int], Awaitable[Any]]
"""One call of a scenario: ``await call(user_id)`` returns the decoded summary."""

Opener = Callable[[str], contextlib.AbstractAsyncContextManager[Call]]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A client configuration under test.

    Attributes:
        name: the short name used on the command line and in results.
        label: the row's text in the report.
        open: ``open(base_url)`` is an async context manager yielding the call.
        distinct: whether each call asks for a different user id.
    """

    name: str
    label: str
    open: Opener
    distinct: bool = True


def _devnull() -> Any:
    """A text file on ``os.devnull``, kept open for the life of the process."""
    return open(os.devnull, "w")


def _configure_structlog(level: int) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=_devnull()),
        cache_logger_on_first_use=True,
    )


def _configure_stdlib(level: int) -> None:
    handler = logging.StreamHandler(_devnull())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


_HEADERS: Final[Mapping[str, str]] = {
    "Authorization": f"Bearer {BENCH_TOKEN}",
    "Accept": "application/json",
}


@contextlib.asynccontextmanager
async def _raw(base_url: str, *, log_line: bool) -> AsyncIterator[Call]:
    url = base_url + "v1/usage/summary"
    log = structlog.get_logger("app")
    async with aiohttp.ClientSession(headers=_HEADERS) as session:
        if not log_line:

            async def call(user_id: int) -> Any:
                async with session.get(url, params={"user_id": user_id}) as resp:
                    resp.raise_for_status()
                    return await resp.json()

            yield call
            return

        async def call_and_log(user_id: int) -> Any:
            started = time.perf_counter()
            async with session.get(url, params={"user_id": user_id}) as resp:
                resp.raise_for_status()
                data = await resp.json()
            log.info(
                "usage.fetched",
                user_id=user_id,
                status=resp.status,
                duration_ms=round((time.perf_counter() - started) * 1000.0, 3),
            )
            return data

        yield call_and_log


@contextlib.asynccontextmanager
async def raw_aiohttp(base_url: str) -> AsyncIterator[Call]:
    """``session.get``, ``raise_for_status``, ``await resp.json()``; no logging."""
    _configure_structlog(logging.WARNING)
    async with _raw(base_url, log_line=False) as call:
        yield call


@contextlib.asynccontextmanager
async def raw_aiohttp_json_line(base_url: str) -> AsyncIterator[Call]:
    """Raw aiohttp plus one structlog JSON line per call: the host's own logging cost."""
    _configure_structlog(logging.INFO)
    async with _raw(base_url, log_line=True) as call:
        yield call


def _import_official_sdk() -> Any:
    # The official package loads a .env file into os.environ when imported; keep the
    # run hermetic by importing it without that (as tests/test_official_sdk.py does).
    # Imported here, not at the top, so that only the SDK's rows pay for the import.
    import dotenv

    with mock.patch.object(dotenv, "load_dotenv", return_value=False):
        return importlib.import_module("geobox.aio")


def _official_sdk(level: int) -> Opener:
    @contextlib.asynccontextmanager
    async def opener(base_url: str) -> AsyncIterator[Call]:
        _configure_stdlib(level)
        sdk = _import_official_sdk()
        async with sdk.AsyncGeoboxClient(host=base_url, access_token=BENCH_TOKEN) as client:

            async def call(user_id: int) -> Any:
                return await client.get_usage_summary(user_id=user_id)

            yield call

    return opener


def default_client(base_url: str, **options: Any) -> AsyncGeoboxClient:
    """This client with its default pipeline (plus ``options``), as the benchmark uses it."""
    return AsyncGeoboxClient(base_url, access_token=BENCH_TOKEN, load_entrypoints=False, **options)


def _this_client(level: int, *, cache: bool = False) -> Opener:
    @contextlib.asynccontextmanager
    async def opener(base_url: str) -> AsyncIterator[Call]:
        _configure_structlog(level)
        options: dict[str, Any] = {"cache": CacheConfig(ttl=3600.0)} if cache else {}
        async with default_client(base_url, **options) as client:
            if cache:
                await client.get_usage_summary(user_id=FIRST_USER_ID)

            async def call(user_id: int) -> Any:
                return await client.get_usage_summary(user_id=user_id)

            yield call

    return opener


SCENARIOS: Final[tuple[Scenario, ...]] = (
    Scenario("raw", "raw aiohttp", raw_aiohttp),
    Scenario("raw_log", "raw aiohttp + 1 structlog JSON line", raw_aiohttp_json_line),
    Scenario("sdk_warning", "official SDK 2.11, stdlib logging WARNING", _official_sdk(30)),
    Scenario("sdk_info", "official SDK 2.11, stdlib logging INFO", _official_sdk(20)),
    Scenario("gbx_warning", "geobox-usage default, structlog WARNING", _this_client(30)),
    Scenario("gbx_info", "geobox-usage default, structlog JSON INFO", _this_client(20)),
    Scenario(
        "gbx_cache_hit",
        "geobox-usage, cache hits, structlog WARNING",
        _this_client(30, cache=True),
        distinct=False,
    ),
)
"""Every row of the report, in the order they run in each round."""

SCENARIO_NAMES: Final = tuple(s.name for s in SCENARIOS)
SDK_SCENARIOS: Final = frozenset({"sdk_warning", "sdk_info"})


def scenario(name: str) -> Scenario:
    """The scenario called ``name``.

    Raises:
        ValueError: no scenario has that name.
    """
    for candidate in SCENARIOS:
        if candidate.name == name:
            return candidate
    raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIO_NAMES)}")
