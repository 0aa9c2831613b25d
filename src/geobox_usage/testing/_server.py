"""The simulated Geobox usage server: in-memory state behind a real aiohttp server.

:class:`SimulatedGeobox` serves the usage API under ``/v1/`` the way the real service
does (FastAPI-shaped errors, bearer tokens and API keys, per-user permissions), with
deterministic data (see :mod:`._series`), a log of every request received, an optional
server-side rate limit, and a :class:`~._faults.FaultPlan` that refuses, delays, drops
or damages chosen answers.

Contract decisions the real API leaves open, fixed here (and relied upon by tests):

* Usage points are returned oldest first, covering every bucket that overlaps the asked
  range, then cut to the first ``limit`` points (default 10, at most 1000).
* ``days_before_now`` takes precedence over ``from_date``/``to_date`` when both are given
  (dates are still checked for format).
* An ``eid``, ``user_id`` or API key id that does not exist is a ``404`` (``Resource not
  found``, ``User not found``, ``API key not found``); existence is checked before
  permission, after authentication and validation.
* A presented bearer token decides alone: an invalid one is a ``401`` even when a valid
  ``apikey`` is also given. A revoked or unknown ``apikey`` is ``401 Not authenticated``.
* Any authenticated user may read any user object; reading another user's API key, or
  another user's usage, summary or update needs an admin.
* Paths are matched exactly (``users/me/`` with its slash, ``usage/api`` without); any
  other path is ``404 {"detail": "Not Found"}``, a wrong method ``405``.
* The rate limit, when enabled, is one fixed window shared by all requests (the token
  route included); ``X-RateLimit-Reset`` and ``Retry-After`` are decimal seconds.
* ``updated_at`` in a summary is ISO 8601 in UTC with an offset (``+00:00``); usage
  point times are naive ISO 8601 in UTC (``2026-11-20T00:00:00``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from types import MappingProxyType, TracebackType
from typing import Final
from urllib.parse import parse_qs

from aiohttp import web
from multidict import MultiMapping

from ._faults import Fault, FaultKind, FaultPlan, route_matches
from ._series import (
    PARAMS,
    SCALES,
    Totals,
    bucket_starts,
    initial_totals,
    process_seconds,
    update_increment,
    usage_value,
    utc_naive,
)

__all__ = [
    "ADMIN_ACCESS_TOKEN",
    "ADMIN_PASSWORD",
    "ADMIN_USERNAME",
    "ADMIN_USER_ID",
    "DEFAULT_ACCESS_TOKENS",
    "DEFAULT_API_KEYS",
    "DEFAULT_USERS",
    "DEMO_ACCESS_TOKEN",
    "DEMO_API_KEY",
    "DEMO_API_KEY_ID",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "DEMO_USER_ID",
    "OTHER_API_KEY",
    "OTHER_API_KEY_ID",
    "OTHER_PASSWORD",
    "OTHER_USERNAME",
    "OTHER_USER_ID",
    "REVOKED_API_KEY",
    "REVOKED_API_KEY_ID",
    "RecordedRequest",
    "SimApiKey",
    "SimUser",
    "SimulatedGeobox",
    "serve_forever",
]

# --------------------------------------------------------------------------- accounts

DEMO_USER_ID: Final = 7
DEMO_USERNAME: Final = "demo"
DEMO_PASSWORD: Final = "demo-password"
ADMIN_USER_ID: Final = 1
ADMIN_USERNAME: Final = "admin"
ADMIN_PASSWORD: Final = "admin-password"
OTHER_USER_ID: Final = 8
OTHER_USERNAME: Final = "other"
OTHER_PASSWORD: Final = "other-password"

DEMO_API_KEY_ID: Final = 3
DEMO_API_KEY: Final = "gbx-sim-demo-key-0003"
REVOKED_API_KEY_ID: Final = 4
REVOKED_API_KEY: Final = "gbx-sim-revoked-key-0004"
OTHER_API_KEY_ID: Final = 5
OTHER_API_KEY: Final = "gbx-sim-other-key-0005"

DEMO_ACCESS_TOKEN: Final = "gbx-sim-demo-static-token"
ADMIN_ACCESS_TOKEN: Final = "gbx-sim-admin-static-token"

_MAX_LIMIT: Final = 1000
_DEFAULT_LIMIT: Final = 10
_DATE_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%f"


@dataclass(frozen=True, slots=True)
class SimUser:
    """A user account of the simulator.

    Attributes:
        id: the numeric user id.
        username: the login name for ``auth/token/``.
        password: the login password (never served).
        email: the e-mail address served in the user object.
        is_admin: admins may read any user's keys and usage, and update any summary.
        first_name: served in the user object.
        last_name: served in the user object.
        calls_limit: the ``calls.limit`` of the user's summary.
        traffic_limit: the ``traffic.limit`` (bytes) of the user's summary.
        process_seconds_limit: the ``process_seconds.limit`` of the user's summary.
    """

    id: int
    username: str
    password: str = field(repr=False)
    email: str
    is_admin: bool = False
    first_name: str = ""
    last_name: str = ""
    calls_limit: int = 100_000
    traffic_limit: int = 10_737_418_240
    process_seconds_limit: float = 36_000.0

    def to_json(self) -> dict[str, object]:
        """The user object the API serves."""
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "is_admin": self.is_admin,
            "is_active": True,
        }


@dataclass(frozen=True, slots=True)
class SimApiKey:
    """An API key of the simulator.

    Attributes:
        id: the numeric id (``apikeys/{id}/``).
        name: a human name.
        key: the secret string sent as ``apikey=`` and used as ``eid``.
        user_id: the owner.
        revoked: a revoked key no longer authenticates, but its usage can be read.
    """

    id: int
    name: str
    key: str = field(repr=False)
    user_id: int
    revoked: bool = False

    def to_json(self) -> dict[str, object]:
        """The API key object the API serves."""
        return {
            "id": self.id,
            "name": self.name,
            "key": self.key,
            "revoked": self.revoked,
            "user_id": self.user_id,
        }


DEFAULT_USERS: Final[tuple[SimUser, ...]] = (
    SimUser(ADMIN_USER_ID, ADMIN_USERNAME, ADMIN_PASSWORD, "admin@example.com", is_admin=True),
    SimUser(DEMO_USER_ID, DEMO_USERNAME, DEMO_PASSWORD, "demo@example.com", first_name="Demo"),
    SimUser(OTHER_USER_ID, OTHER_USERNAME, OTHER_PASSWORD, "other@example.com"),
)
"""The default accounts: ``admin`` (1, admin), ``demo`` (7) and ``other`` (8)."""

DEFAULT_API_KEYS: Final[tuple[SimApiKey, ...]] = (
    SimApiKey(DEMO_API_KEY_ID, "demo key", DEMO_API_KEY, DEMO_USER_ID),
    SimApiKey(REVOKED_API_KEY_ID, "revoked key", REVOKED_API_KEY, DEMO_USER_ID, revoked=True),
    SimApiKey(OTHER_API_KEY_ID, "other key", OTHER_API_KEY, OTHER_USER_ID),
)
"""The default API keys: 3 (demo's), 4 (demo's, revoked) and 5 (other's)."""

DEFAULT_ACCESS_TOKENS: Final[Mapping[str, int]] = MappingProxyType(
    {DEMO_ACCESS_TOKEN: DEMO_USER_ID, ADMIN_ACCESS_TOKEN: ADMIN_USER_ID}
)
"""The default static access tokens, token to user id: one for demo, one for admin."""


# --------------------------------------------------------------------------- request log


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the simulator received it.

    Attributes:
        method: the HTTP method.
        path: the path relative to ``/v1/`` (``"usage/api"``); a path outside ``/v1/``
            is kept whole, with its leading slash.
        query: the query parameters as ``(name, value)`` pairs, in order.
        headers: a copy of the request headers (names as sent; see :meth:`header`).
        body: the request body.
        request_id: the ``X-Request-ID`` sent, or the one the simulator generated.
        fault: the fault applied to the request, if any.
        received_at: when it was received, on the simulator's monotonic clock.
    """

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    body: bytes
    request_id: str
    fault: Fault | None
    received_at: float

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name, or ``None``."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or ``None``."""
        return next((v for k, v in self.query if k == name), None)


# --------------------------------------------------------------------------- internals


class _HTTPError(Exception):
    """An error answer, raised by handlers and turned into a FastAPI-shaped body."""

    def __init__(self, status: int, detail: object, headers: Mapping[str, str] | None = None):
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def _unauthorized(detail: str) -> _HTTPError:
    return _HTTPError(401, detail, {"WWW-Authenticate": "Bearer"})


@dataclass(slots=True)
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json_answer(status: int, value: object, headers: Mapping[str, str] | None = None) -> _Answer:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return _Answer(status, body, headers=dict(headers or {}))


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _html_page(status: int) -> bytes:
    title = f"{status} {_phrase(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def _seconds(value: float) -> str:
    """Seconds as a short decimal string, to the millisecond."""
    return f"{max(value, 0.0):.3f}".rstrip("0").rstrip(".")


def _retry_after(value: float | datetime) -> str:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return email.utils.format_datetime(aware.astimezone(UTC), usegmt=True)
    return str(value)


def _truncate_json(body: bytes) -> bytes:
    """A prefix of ``body``, as close to half its length as possible, that is not JSON."""
    half = len(body) // 2
    for distance in range(len(body) + 1):
        for length in (half - distance, half + distance):
            if 0 <= length < len(body):
                cut = body[:length]
                try:
                    json.loads(cut)
                except ValueError:
                    return cut
    return b""


def _error(loc: Iterable[str | int], msg: str, type_: str) -> dict[str, object]:
    return {"loc": list(loc), "msg": msg, "type": type_}


class _Query:
    """Reads query parameters the way FastAPI validates them, collecting every error."""

    def __init__(self, query: MultiMapping[str]) -> None:
        self._query = query
        self.errors: list[dict[str, object]] = []

    def text(self, name: str, *, required: bool) -> str | None:
        value = self._query.get(name)
        if value is None and required:
            self.errors.append(_error(("query", name), "field required", "value_error.missing"))
        return value

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(name, required=True)
        if value is not None and value not in choices:
            self.errors.append(
                _error(
                    ("query", name), "value is not a valid enumeration member", "type_error.enum"
                )
            )
            return None
        return value

    def integer(
        self, name: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        raw = self._query.get(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            self.errors.append(
                _error(("query", name), "value is not a valid integer", "type_error.integer")
            )
            return None
        if minimum is not None and value < minimum:
            msg = f"ensure this value is greater than or equal to {minimum}"
            self.errors.append(_error(("query", name), msg, "value_error.number.not_ge"))
            return None
        if maximum is not None and value > maximum:
            msg = f"ensure this value is less than or equal to {maximum}"
            self.errors.append(_error(("query", name), msg, "value_error.number.not_le"))
            return None
        return value

    def date(self, name: str) -> datetime | None:
        raw = self._query.get(name)
        if raw is None:
            return None
        try:
            return datetime.strptime(raw, _DATE_FORMAT)
        except ValueError:
            self.errors.append(
                _error(("query", name), "invalid datetime format", "value_error.datetime")
            )
            return None

    def time_range(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The range asked by ``days_before_now`` or by ``from_date`` and ``to_date``."""
        days = self.integer("days_before_now", minimum=0)
        start, end = self.date("from_date"), self.date("to_date")
        if days is not None:
            try:
                return now - timedelta(days=days), now
            except OverflowError:
                msg = "value is out of range"
                self.errors.append(_error(("query", "days_before_now"), msg, "value_error"))
                return None
        if "days_before_now" in self._query:
            return None  # invalid, already reported
        msg = "either days_before_now or both from_date and to_date are required"
        for name in ("from_date", "to_date"):
            if name not in self._query:
                self.errors.append(_error(("query", name), msg, "value_error.missing"))
        if start is None or end is None:
            return None
        if start > end:
            msg = "from_date must not be after to_date"
            self.errors.append(_error(("query", "from_date"), msg, "value_error"))
            return None
        return start, end

    def check(self) -> None:
        if self.errors:
            raise _HTTPError(422, self.errors)


@dataclass(slots=True)
class _Token:
    user_id: int
    issued_at: float
    static: bool
    expired: bool = False


@dataclass(slots=True)
class _Summary:
    totals: Totals
    updated_at: datetime
    updates: int = 0


@dataclass(frozen=True, slots=True)
class _Call:
    """What a handler needs to know about the request it answers."""

    user: SimUser
    params: Mapping[str, str]
    query: MultiMapping[str]
    body: bytes
    request_id: str


class _RateWindow:
    """A fixed-window rate limit over all requests."""

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError(f"rate_limit needs limit >= 1 and window > 0, got {(limit, window)}")
        self.limit = limit
        self.window = window
        self._start: float | None = None
        self._count = 0

    def hit(self, now: float) -> tuple[bool, dict[str, str]]:
        """Count one request; whether it is allowed, and the headers to send."""
        if self._start is None or now - self._start >= self.window:
            self._start, self._count = now, 0
        self._count += 1
        reset = _seconds(self._start + self.window - now)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - self._count, 0)),
            "X-RateLimit-Reset": reset,
        }
        allowed = self._count <= self.limit
        if not allowed:
            headers["Retry-After"] = reset
        return allowed, headers


def _utc_now() -> datetime:
    return datetime.now(UTC)


_Handler = Callable[["SimulatedGeobox", _Call], _Answer]
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"users/me/"), "_get_me"),
    ("GET", re.compile(r"users/(?P<user_id>[^/]+)/"), "_get_user"),
    ("GET", re.compile(r"apikeys/(?P<apikey_id>[^/]+)/"), "_get_api_key"),
    ("GET", re.compile(r"usage/api"), "_get_usage"),
    ("GET", re.compile(r"usage/process"), "_get_process"),
    ("GET", re.compile(r"usage/summary"), "_get_summary"),
    ("POST", re.compile(r"usage/update"), "_post_update"),
]
_TOKEN_PATH: Final = "auth/token/"


# --------------------------------------------------------------------------- simulator


class SimulatedGeobox:
    """A faithful, deterministic, in-memory Geobox usage server with fault injection.

    Run it inside the current event loop with ``async with SimulatedGeobox() as sim``
    (or :meth:`running`), or on its own loop in a daemon thread with :meth:`in_thread`
    (or :meth:`start_in_thread` and :meth:`stop`) for synchronous code. Point a client at
    :attr:`base_url`.

    Faults from :attr:`faults` are decided once per request, after the rate limit. A
    refusal (a 4xx, a 503 with ``Retry-After``, ``expire_token``) is answered *before*
    the request's work: ``POST usage/update`` performs no update. Every other fault
    (500, 502, 504, a 503 without ``Retry-After``, delay, drop, truncate, not_json) is
    applied *after* the work: the update is performed and recorded, but its answer is
    late, lost or damaged.

    Thread safety: every public method and property may be used from any thread while
    the server runs (state is guarded by one lock; readers return snapshots), and
    :attr:`faults` may be replaced or changed at any time.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        users: Iterable[SimUser] | None = None,
        api_keys: Iterable[SimApiKey] | None = None,
        access_tokens: Mapping[str, int] | None = None,
        now: Callable[[], datetime] | None = None,
        clock: Callable[[], float] = time.monotonic,
        token_ttl: float = 3600,
        rate_limit: tuple[int, float] | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        """Configure the simulator; nothing is started until it runs.

        Args:
            seed: decides every usage number served (see :mod:`._series`).
            users: the accounts; defaults to :data:`DEFAULT_USERS`.
            api_keys: the API keys; defaults to :data:`DEFAULT_API_KEYS`.
            access_tokens: static bearer tokens, token to user id; defaults to
                :data:`DEFAULT_ACCESS_TOKENS`. They never expire with time.
            now: the wall clock ``days_before_now`` and ``updated_at`` read; freeze it
                for deterministic answers. Defaults to the real UTC time.
            clock: the monotonic clock for token expiry, the rate limit and the log.
            token_ttl: seconds an issued token stays valid (also sent as ``expires_in``).
            rate_limit: ``(limit, window_seconds)`` to enable the server-side rate limit;
                off by default.
            faults: the fault plan; defaults to an empty one.
        """
        self.seed = seed
        self._users = {u.id: u for u in (DEFAULT_USERS if users is None else users)}
        self._keys = {k.id: k for k in (DEFAULT_API_KEYS if api_keys is None else api_keys)}
        tokens = DEFAULT_ACCESS_TOKENS if access_tokens is None else access_tokens
        for owner in [k.user_id for k in self._keys.values()] + list(tokens.values()):
            if owner not in self._users:
                raise ValueError(f"unknown user id {owner} in api_keys or access_tokens")
        self._now = now or _utc_now
        self._clock = clock
        self.token_ttl = token_ttl
        self._rate = None if rate_limit is None else _RateWindow(*rate_limit)
        self._faults = faults if faults is not None else FaultPlan()
        self._lock = threading.RLock()
        self._tokens = {t: _Token(uid, clock(), static=True) for t, uid in tokens.items()}
        self._summaries: dict[int, _Summary] = {}
        self._log: list[RecordedRequest] = []
        self._token_requests = 0
        self._tokens_issued = 0
        self._update_ids: list[str] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._thread: threading.Thread | None = None
        self._thread_stop: Callable[[], None] | None = None

    # ------------------------------------------------------------------ observation

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in use; assign a new plan (or ``None``) to replace it."""
        return self._faults

    @faults.setter
    def faults(self, plan: FaultPlan | None) -> None:
        self._faults = plan if plan is not None else FaultPlan()

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """Every request received since start or the last :meth:`reset_log`, in order."""
        with self._lock:
            return tuple(self._log)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many logged requests match a method and a path pattern.

        Args:
            method: the method, case-insensitive; ``None`` for any.
            path: a path relative to ``/v1/``, possibly a glob, slashes at the ends
                ignored (as in fault routes); ``None`` for any.
        """
        pattern = f"{method or ''} {path or '*'}".strip()
        with self._lock:
            return sum(route_matches(pattern, r.method, r.path) for r in self._log)

    @property
    def token_requests(self) -> int:
        """How many ``POST auth/token/`` requests were received (successful or not)."""
        with self._lock:
            return self._token_requests

    @property
    def tokens_issued(self) -> int:
        """How many tokens ``auth/token/`` issued."""
        with self._lock:
            return self._tokens_issued

    @property
    def updates_performed(self) -> int:
        """How many ``usage/update`` requests did their work (whatever was answered)."""
        with self._lock:
            return len(self._update_ids)

    @property
    def update_request_ids(self) -> tuple[str, ...]:
        """The ``X-Request-ID`` of each performed update, in order.

        A client that retries an update under the same request id shows up here as a
        repeated id: ``len(set(ids)) == len(ids)`` asserts no id performed two updates.
        """
        with self._lock:
            return tuple(self._update_ids)

    def reset_log(self) -> None:
        """Forget what was observed: the log and every counter above.

        Served state (tokens, summary totals) is kept, so answers do not change.
        """
        with self._lock:
            self._log.clear()
            self._token_requests = 0
            self._tokens_issued = 0
            self._update_ids.clear()

    # ------------------------------------------------------------------ state control

    def expire_tokens(self, *, include_static: bool = False) -> None:
        """Mark every issued token expired (and the static ones too, if asked)."""
        with self._lock:
            for token in self._tokens.values():
                if include_static or not token.static:
                    token.expired = True

    def issue_token(self, user_id: int = DEMO_USER_ID) -> str:
        """Issue a bearer token for a user without going through ``auth/token/``."""
        with self._lock:
            if user_id not in self._users:
                raise ValueError(f"unknown user id {user_id}")
            token = secrets.token_urlsafe(32)
            self._tokens[token] = _Token(user_id, self._clock(), static=False)
            return token

    # ------------------------------------------------------------------ running

    def make_app(self) -> web.Application:
        """An aiohttp application serving this simulator's state (for custom runners)."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    @property
    def base_url(self) -> str:
        """The host URL to give a client, ``http://127.0.0.1:<port>/``; only while running."""
        if self._base_url is None:
            raise RuntimeError("the simulator is not running")
        return self._base_url

    @property
    def api_url(self) -> str:
        """The versioned API root, :attr:`base_url` + ``v1/``."""
        return self.base_url + "v1/"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start listening on the running loop; port 0 picks a free port.

        Shutdown waits at most a tenth of a second for requests in progress (such
        as a :meth:`Fault.delay`), then cancels them.
        """
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        runner = web.AppRunner(
            self.make_app(), handle_signals=False, shutdown_timeout=0.1, access_log=None
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound = runner.addresses[0][1]
        self._runner = runner
        self._base_url = f"http://[{host}]:{bound}/" if ":" in host else f"http://{host}:{bound}/"

    async def aclose(self) -> None:
        """Stop listening and close every connection; does nothing when not running."""
        runner, self._runner, self._base_url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    @contextlib.asynccontextmanager
    async def running(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> AsyncIterator[SimulatedGeobox]:
        """Serve on the current loop for the duration of an ``async with``."""
        await self.start(host, port)
        try:
            yield self
        finally:
            await self.aclose()

    async def __aenter__(self) -> SimulatedGeobox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def start_in_thread(
        self, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 10.0
    ) -> SimulatedGeobox:
        """Serve on a new event loop in a daemon thread; return once listening.

        For code that is not inside an event loop (synchronous tests, other threads).
        Stop it with :meth:`stop`.

        Raises:
            RuntimeError: already running, or not listening within ``timeout``.
            OSError: the address could not be bound.
        """
        if self._thread is not None or self._runner is not None:
            raise RuntimeError("the simulator is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()

            def request_stop() -> None:
                loop.call_soon_threadsafe(stop.set)

            async with self.running(host, port):
                self._thread_stop = request_stop
                ready.set()
                await stop.wait()

        def main() -> None:
            try:
                asyncio.run(serve())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
            finally:
                ready.set()

        thread = threading.Thread(target=main, name="geobox-simulator", daemon=True)
        self._thread = thread
        thread.start()
        if not ready.wait(timeout) or failure:
            if self._thread_stop is not None:
                self._thread_stop()
            thread.join(timeout)
            self._thread = self._thread_stop = None
            if failure:
                raise failure[0]
            raise RuntimeError(f"the simulator did not start within {timeout} s")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started by :meth:`start_in_thread` and wait for its thread."""
        thread, stop = self._thread, self._thread_stop
        self._thread = self._thread_stop = None
        if stop is not None:
            stop()
        if thread is not None:
            thread.join(timeout)

    @contextlib.contextmanager
    def in_thread(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[SimulatedGeobox]:
        """Serve in a daemon thread for the duration of a ``with``."""
        self.start_in_thread(host, port)
        try:
            yield self
        finally:
            self.stop()

    # ------------------------------------------------------------------ request pipeline

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received_at = self._clock()
        body = await request.read()
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        path = request.path[len("/v1/") :] if request.path.startswith("/v1/") else request.path
        method = request.method.upper()
        with self._lock:
            allowed, rate_headers = (
                (True, {}) if self._rate is None else self._rate.hit(self._clock())
            )
        fault = self._faults.pick(method, path) if allowed else None
        record = RecordedRequest(
            method=method,
            path=path,
            query=tuple(request.query.items()),
            headers=dict(request.headers),
            body=body,
            request_id=request_id,
            fault=fault,
            received_at=received_at,
        )
        with self._lock:
            self._log.append(record)
            if method == "POST" and path == _TOKEN_PATH:
                self._token_requests += 1

        answer: _Answer | None
        if not allowed:
            answer = _json_answer(429, {"detail": "Too many requests"})
        elif fault is not None and fault.before_work:
            answer = self._refuse(fault, request)
        else:
            answer = self._work(method, path, request, body, request_id)
            if fault is not None:
                answer = await self._damage(fault, answer)
        if answer is None:  # dropped: close without a word
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        headers = {**answer.headers, **rate_headers, "X-Request-ID": request_id}
        headers["Content-Type"] = answer.content_type
        return web.Response(status=answer.status, body=answer.body, headers=headers)

    def _refuse(self, fault: Fault, request: web.Request) -> _Answer:
        if fault.kind is FaultKind.EXPIRE_TOKEN:
            token = _bearer(request)
            with self._lock:
                if token is not None and token in self._tokens:
                    self._tokens[token].expired = True
            return _json_answer(401, {"detail": "Token expired"}, {"WWW-Authenticate": "Bearer"})
        return _status_answer(fault)

    async def _damage(self, fault: Fault, answer: _Answer) -> _Answer | None:
        if fault.kind is FaultKind.STATUS:
            return _status_answer(fault)
        if fault.kind is FaultKind.DELAY:
            await asyncio.sleep(fault.seconds)
            return answer
        if fault.kind is FaultKind.DROP:
            return None
        if fault.kind is FaultKind.TRUNCATE:
            return _Answer(200, _truncate_json(answer.body), headers=answer.headers)
        if fault.kind is FaultKind.NOT_JSON:
            if fault.html:
                return _Answer(200, _html_page(200), "text/html")
            return _Answer(200, b"OK", "text/plain")
        raise AssertionError(f"unhandled fault {fault!r}")  # pragma: no cover

    def _work(
        self, method: str, path: str, request: web.Request, body: bytes, request_id: str
    ) -> _Answer:
        try:
            if path == _TOKEN_PATH:
                if method != "POST":
                    raise _HTTPError(405, "Method Not Allowed", {"Allow": "POST"})
                return self._post_token(request, body)
            handler, params = _resolve(method, path)
            user = self._authenticate(request)
            call = _Call(user, params, request.query, body, request_id)
            with self._lock:
                return handler(self, call)
        except _HTTPError as exc:
            return _json_answer(exc.status, {"detail": exc.detail}, exc.headers)

    def _authenticate(self, request: web.Request) -> SimUser:
        token = _bearer(request)
        with self._lock:
            if token is not None:
                entry = self._tokens.get(token)
                if entry is None or entry.user_id not in self._users:
                    raise _unauthorized("Invalid token")
                too_old = self._clock() - entry.issued_at >= self.token_ttl
                if entry.expired or (not entry.static and too_old):
                    raise _unauthorized("Token expired")
                return self._users[entry.user_id]
            apikey = request.query.get("apikey")
            for key in self._keys.values():
                if apikey is not None and key.key == apikey and not key.revoked:
                    return self._users[key.user_id]
        raise _unauthorized("Not authenticated")

    # ------------------------------------------------------------------ handlers

    def _post_token(self, request: web.Request, body: bytes) -> _Answer:
        form: dict[str, list[str]] = {}
        if request.content_type == "application/x-www-form-urlencoded":
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        missing = [name for name in ("username", "password") if name not in form]
        if missing:
            errors = [_error(("body", n), "field required", "value_error.missing") for n in missing]
            raise _HTTPError(422, errors)
        username, password = form["username"][0], form["password"][0]
        with self._lock:
            user = next((u for u in self._users.values() if u.username == username), None)
            if user is None or not secrets.compare_digest(user.password, password):
                raise _unauthorized("Incorrect username or password")
            token = secrets.token_urlsafe(32)
            self._tokens[token] = _Token(user.id, self._clock(), static=False)
            self._tokens_issued += 1
        ttl = int(self.token_ttl) if float(self.token_ttl).is_integer() else self.token_ttl
        return _json_answer(200, {"access_token": token, "token_type": "bearer", "expires_in": ttl})

    def _get_me(self, call: _Call) -> _Answer:
        return _json_answer(200, call.user.to_json())

    def _get_user(self, call: _Call) -> _Answer:
        user_id = _path_int(call.params, "user_id")
        return _json_answer(200, self._user(user_id).to_json())

    def _get_api_key(self, call: _Call) -> _Answer:
        key = self._keys.get(_path_int(call.params, "apikey_id"))
        if key is None:
            raise _HTTPError(404, "API key not found")
        self._permit(call.user, key.user_id)
        return _json_answer(200, key.to_json())

    def _get_usage(self, call: _Call) -> _Answer:
        query = _Query(call.query)
        eid = query.text("eid", required=True)
        scale = query.choice("scale", SCALES)
        param = query.choice("param", PARAMS)
        span = query.time_range(utc_naive(self._now()))
        limit = query.integer("limit", minimum=1, maximum=_MAX_LIMIT)
        if query.errors or eid is None or scale is None or param is None or span is None:
            raise _HTTPError(422, query.errors)
        self._permit(call.user, self._owner_of(eid))
        buckets = islice(bucket_starts(span[0], span[1], scale), limit or _DEFAULT_LIMIT)
        points = [
            {"time": b.isoformat(), "value": usage_value(self.seed, eid, scale, param, b)}
            for b in buckets
        ]
        return _json_answer(200, points)

    def _get_process(self, call: _Call) -> _Answer:
        query = _Query(call.query)
        user_id = query.integer("user_id")
        span = query.time_range(utc_naive(self._now()))
        if query.errors or span is None:
            raise _HTTPError(422, query.errors)
        target = self._target(call.user, user_id)
        return _json_answer(200, process_seconds(self.seed, target.id, *span))

    def _get_summary(self, call: _Call) -> _Answer:
        query = _Query(call.query)
        user_id = query.integer("user_id")
        query.check()
        target = self._target(call.user, user_id)
        return _json_answer(200, self._summary_json(target))

    def _post_update(self, call: _Call) -> _Answer:
        target = self._target(call.user, _body_user_id(call.body))
        summary = self._summary(target.id)
        summary.updates += 1
        summary.totals = summary.totals + update_increment(self.seed, target.id, summary.updates)
        summary.updated_at = self._now()
        self._update_ids.append(call.request_id)
        return _json_answer(200, self._summary_json(target))

    # ------------------------------------------------------------------ helpers (under lock)

    def _user(self, user_id: int) -> SimUser:
        user = self._users.get(user_id)
        if user is None:
            raise _HTTPError(404, "User not found")
        return user

    def _target(self, caller: SimUser, user_id: int | None) -> SimUser:
        target = caller if user_id is None else self._user(user_id)
        self._permit(caller, target.id)
        return target

    @staticmethod
    def _permit(caller: SimUser, owner_id: int) -> None:
        if not caller.is_admin and caller.id != owner_id:
            raise _HTTPError(403, "Not allowed")

    def _owner_of(self, eid: str) -> int:
        for key in self._keys.values():
            if key.key == eid:
                return key.user_id
        if eid.isdigit() and int(eid) in self._users:
            return int(eid)
        raise _HTTPError(404, "Resource not found")

    def _summary(self, user_id: int) -> _Summary:
        summary = self._summaries.get(user_id)
        if summary is None:
            summary = _Summary(initial_totals(self.seed, user_id), self._now())
            self._summaries[user_id] = summary
        return summary

    def _summary_json(self, user: SimUser) -> dict[str, object]:
        summary = self._summary(user.id)
        stamp = summary.updated_at
        stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
        return {
            "user_id": user.id,
            "calls": {"total": summary.totals.calls, "limit": user.calls_limit},
            "traffic": {"total": summary.totals.traffic, "limit": user.traffic_limit},
            "process_seconds": {
                "total": summary.totals.process_seconds,
                "limit": user.process_seconds_limit,
            },
            "updated_at": stamp.isoformat(),
        }


def _status_answer(fault: Fault) -> _Answer:
    code = fault.code if fault.code is not None else 500
    headers = dict(fault.headers)
    if fault.retry_after is not None:
        headers["Retry-After"] = _retry_after(fault.retry_after)
    if fault.html:
        return _Answer(code, _html_page(code), "text/html", headers)
    default = "Too many requests" if code == 429 else _phrase(code)
    return _json_answer(code, {"detail": fault.detail or default}, headers)


def _bearer(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _resolve(method: str, path: str) -> tuple[_Handler, Mapping[str, str]]:
    allowed: list[str] = []
    for route_method, pattern, name in _ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if route_method == method:
            handler: _Handler = getattr(SimulatedGeobox, name)
            return handler, match.groupdict()
        allowed.append(route_method)
    if allowed:
        raise _HTTPError(405, "Method Not Allowed", {"Allow": ", ".join(sorted(set(allowed)))})
    raise _HTTPError(404, "Not Found")


def _path_int(params: Mapping[str, str], name: str) -> int:
    try:
        return int(params[name])
    except ValueError:
        msg = "value is not a valid integer"
        raise _HTTPError(422, [_error(("path", name), msg, "type_error.integer")]) from None


def _body_user_id(body: bytes) -> int | None:
    """The ``user_id`` of an update's JSON body; an empty body counts as ``{}``."""
    if not body.strip():
        return None
    try:
        value = json.loads(body)
    except ValueError:
        raise _HTTPError(
            422, [_error(["body"], "invalid JSON", "value_error.jsondecode")]
        ) from None
    if not isinstance(value, dict):
        raise _HTTPError(422, [_error(["body"], "value is not a valid dict", "type_error.dict")])
    user_id = value.get("user_id")
    if user_id is None:
        return None
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        msg = "value is not a valid integer"
        raise _HTTPError(422, [_error(("body", "user_id"), msg, "type_error.integer")])
    return user_id


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    seed: int = 0,
    faults: FaultPlan | None = None,
    rate_limit: tuple[int, float] | None = None,
    token_ttl: float = 3600,
    on_ready: Callable[[SimulatedGeobox], Awaitable[None] | None] | None = None,
) -> None:
    """Serve a simulator with the default accounts until cancelled.

    This is what ``geobox-usage serve`` runs. It prints nothing: ``on_ready`` is called
    with the listening simulator (its :attr:`~SimulatedGeobox.base_url` and the default
    credentials are what a CLI would show). Cancel the task (Ctrl-C under
    :func:`asyncio.run`) to stop; the server is closed before this returns.

    Args:
        host: the address to bind.
        port: the port to bind; 0 picks a free one.
        seed: the simulator's seed.
        faults: a fault plan, e.g. :func:`~._faults.chaos_plan`; none by default.
        rate_limit: ``(limit, window_seconds)`` to enable the server-side rate limit.
        token_ttl: seconds an issued token stays valid.
        on_ready: called (and awaited, if it returns an awaitable) once listening.
    """
    sim = SimulatedGeobox(seed, faults=faults, rate_limit=rate_limit, token_ttl=token_ttl)
    async with sim.running(host, port):
        if on_ready is not None:
            result = on_ready(sim)
            if result is not None:
                await result
        await asyncio.Event().wait()
