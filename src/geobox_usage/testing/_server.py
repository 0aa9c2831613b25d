"""The simulated Geobox usage server: in-memory state behind a real aiohttp server.

:class:`SimulatedGeobox` serves the usage API under ``/v1/`` the way the real service
does (FastAPI-shaped errors, bearer tokens and API keys, per-user permissions), with
deterministic data (see :mod:`._series`), a log of every request received, an optional
server-side rate limit, and a :class:`~._faults.FaultPlan` that refuses, delays, drops
or damages chosen answers.

This module owns the server's state (accounts in use, tokens, summaries, the request
log and counters), the request pipeline (rate limit, fault, authentication, routing,
extra headers) and the handlers of each route. What it builds on lives beside it, one
concern per module: the account records and default credentials (:mod:`._accounts`),
the log entry (:mod:`._records`), the wire shape of answers, errors and faults
(:mod:`._answers`), FastAPI-style validation (:mod:`._validation`), the rate-limit
window (:mod:`._ratelimit`), extra header rules (:mod:`._headers`), serving from a
thread (:mod:`._thread`) and the standalone entry point (:mod:`._runner`).

Contract decisions the real API leaves open, fixed here (and relied upon by tests):

* Answers have the real service's shapes (the official SDK's test data): usage is a
  list of ``[time, value]`` pairs, process usage a bare number of seconds, the summary
  (and the answer of an update) one flat object of 15 fields.
* Usage points are returned oldest first, one per bucket that overlaps the asked range
  and has data (a bucket whose value is 0 is left out), cut to the first ``limit``
  points (default 10, at most 1000).
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
* Usage point times are naive ISO 8601 in UTC (``2026-11-20T00:00:00``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from types import TracebackType
from typing import Final
from urllib.parse import parse_qs

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from multidict import MultiMapping

from ._accounts import (
    DEFAULT_ACCESS_TOKENS,
    DEFAULT_API_KEYS,
    DEFAULT_USERS,
    DEMO_USER_ID,
    SimApiKey,
    SimUser,
)
from ._answers import Answer, HTTPError, damage, json_answer, status_answer, unauthorized
from ._faults import Fault, FaultKind, FaultPlan, route_matches
from ._headers import ResponseHeaderRules
from ._ratelimit import RateWindow
from ._records import RecordedRequest
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
from ._thread import LoopThread
from ._validation import Query, body_user_id, error_item, path_int

__all__ = ["SimulatedGeobox"]

_MAX_LIMIT: Final = 1000
_DEFAULT_LIMIT: Final = 10


@dataclass(slots=True)
class _Token:
    user_id: int
    issued_at: float
    static: bool
    expired: bool = False


@dataclass(slots=True)
class _Summary:
    totals: Totals
    updates: int = 0


@dataclass(frozen=True, slots=True)
class _Call:
    """What a handler needs to know about the request it answers."""

    user: SimUser
    params: Mapping[str, str]
    query: MultiMapping[str]
    body: bytes
    request_id: str


def _utc_now() -> datetime:
    return datetime.now(UTC)


_Handler = Callable[["SimulatedGeobox", _Call], Answer]
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

    Extra headers chosen by route (``response_headers=``, :meth:`set_response_headers`)
    are added to successful (2xx) answers only; they are kept when a delay or a
    truncation fault hits the answer, and absent from errors, refusals, rate-limit
    ``429`` answers and answers a fault replaced.

    Thread safety: every public method and property may be used from any thread while
    the server runs (state is guarded by one lock; readers return snapshots), and
    :attr:`faults` and the extra headers may be replaced or changed at any time.
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
        response_headers: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """Configure the simulator; nothing is started until it runs.

        Args:
            seed: decides every usage number served (see :mod:`._series`).
            users: the accounts; defaults to :data:`DEFAULT_USERS`.
            api_keys: the API keys; defaults to :data:`DEFAULT_API_KEYS`.
            access_tokens: static bearer tokens, token to user id; defaults to
                :data:`DEFAULT_ACCESS_TOKENS`. They never expire with time.
            now: the wall clock ``days_before_now`` reads; freeze it
                for deterministic answers. Defaults to the real UTC time.
            clock: the monotonic clock for token expiry, the rate limit and the log.
            token_ttl: seconds an issued token stays valid (also sent as ``expires_in``).
            rate_limit: ``(limit, window_seconds)`` to enable the server-side rate limit;
                off by default.
            faults: the fault plan; defaults to an empty one.
            response_headers: extra headers for successful answers, route pattern to
                headers, e.g. ``{"GET usage/summary": {"Cache-Control": "max-age=5"}}``
                (see :meth:`set_response_headers`); none by default.

        Raises:
            ValueError: an API key or token names an unknown user, ``rate_limit`` is not
                positive, or ``response_headers`` names a header the simulator sets
                itself (see :meth:`set_response_headers`).
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
        self._rate = None if rate_limit is None else RateWindow(*rate_limit)
        self._faults = faults if faults is not None else FaultPlan()
        self._extra_headers = ResponseHeaderRules(response_headers)
        self._lock = threading.RLock()
        self._tokens = {t: _Token(uid, clock(), static=True) for t, uid in tokens.items()}
        self._summaries: dict[int, _Summary] = {}
        self._log: list[RecordedRequest] = []
        self._token_requests = 0
        self._tokens_issued = 0
        self._update_ids: list[str] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._thread = LoopThread("geobox-simulator", "the simulator")

    # ------------------------------------------------------------------ observation

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in use; assign a new plan (or ``None``) to replace it."""
        return self._faults

    @faults.setter
    def faults(self, plan: FaultPlan | None) -> None:
        self._faults = plan if plan is not None else FaultPlan()

    @property
    def response_headers(self) -> Mapping[str, Mapping[str, str]]:
        """A copy of the extra header rules, route pattern to headers, oldest first.

        Change them with :meth:`set_response_headers`; changing the copy does nothing.
        """
        return self._extra_headers.snapshot()

    def set_response_headers(self, route: str, headers: Mapping[str, str] | None) -> None:
        """Send extra headers on the successful answers of a route from now on.

        The headers are added to 2xx answers of requests matching ``route`` (including
        a delayed or truncated one), never to errors or to answers a fault replaced.
        When several routes match, their headers are merged; for a header named by more
        than one (case-insensitively) the route set most recently wins. Rate-limit
        headers, when the limit is on, win over extra headers of the same name.

        Args:
            route: a route pattern as in fault plans: ``"*"``, ``"usage/api"``,
                ``"GET usage/summary"``, an fnmatch glob such as ``"usage/*"``. The
                pattern is the rule's key, compared as written: setting it again
                replaces its headers (and makes it the most recent).
            headers: header name to value; ``None`` or ``{}`` removes the route's rule.

        Raises:
            ValueError: a header name is not a valid HTTP token or is one the simulator
                always sets itself (``Content-Type``, ``Content-Length``,
                ``X-Request-ID``), or a value holds a line break.
        """
        self._extra_headers.set(route, headers)

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

    def summary_of(self, user_id: int) -> dict[str, object]:
        """The summary the simulator serves for ``user_id`` now: what a client's
        ``get_usage_summary`` for that user returns (the real answer has no user id,
        so this is how a test tells whose summary it got).

        Raises:
            KeyError: no such user.
        """
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                raise KeyError(f"the simulator has no user {user_id}")
            return self._summary_json(user)

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

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, access_log: logging.Logger | None = None
    ) -> None:
        """Start listening on the running loop; port 0 picks a free port.

        Shutdown waits at most a tenth of a second for requests in progress (such
        as a :meth:`Fault.delay`), then cancels them.

        Args:
            host: the address to bind.
            port: the port to bind.
            access_log: a logger that gets one line per request answered (method,
                path, status, milliseconds; never the query, which may hold an API
                key); none by default.
        """
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        runner = web.AppRunner(
            self.make_app(),
            handle_signals=False,
            shutdown_timeout=0.1,
            access_log=access_log,
            access_log_class=_RequestLine,
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
        self, host: str = "127.0.0.1", port: int = 0, *, access_log: logging.Logger | None = None
    ) -> AsyncIterator[SimulatedGeobox]:
        """Serve on the current loop for the duration of an ``async with``."""
        await self.start(host, port, access_log=access_log)
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
        if self._thread.active or self._runner is not None:
            raise RuntimeError("the simulator is already running")
        self._thread.start(lambda: self.running(host, port), timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started by :meth:`start_in_thread` and wait for its thread."""
        self._thread.stop(timeout)

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

        answer: Answer | None
        if not allowed:
            answer = json_answer(429, {"detail": "Too many requests"})
        elif fault is not None and fault.before_work:
            answer = self._refuse(fault, request)
        else:
            answer = self._work(method, path, request, body, request_id)
            self._add_extra_headers(answer, method, path, rate_headers)
            if fault is not None:
                answer = await damage(fault, answer)
        if answer is None:  # dropped: close without a word
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        headers = {**answer.headers, **rate_headers, "X-Request-ID": request_id}
        headers["Content-Type"] = answer.content_type
        if answer.declared_length is not None:
            return await _send_cut_short(request, answer, headers)
        return web.Response(status=answer.status, body=answer.body, headers=headers)

    def _add_extra_headers(
        self, answer: Answer, method: str, path: str, own: Mapping[str, str]
    ) -> None:
        """Add the route's extra headers to a successful answer, in place.

        Headers the answer already has, and those in ``own`` (the rate limit's), win
        over extra headers of the same name.
        """
        if not 200 <= answer.status < 300:
            return
        taken = {name.lower() for name in (*answer.headers, *own)}
        extra = self._extra_headers.for_request(method, path)
        answer.headers.update((k, v) for k, v in extra.items() if k.lower() not in taken)

    def _refuse(self, fault: Fault, request: web.Request) -> Answer:
        if fault.kind is FaultKind.EXPIRE_TOKEN:
            token = _bearer(request)
            with self._lock:
                if token is not None and token in self._tokens:
                    self._tokens[token].expired = True
            return json_answer(401, {"detail": "Token expired"}, {"WWW-Authenticate": "Bearer"})
        return status_answer(fault)

    def _work(
        self, method: str, path: str, request: web.Request, body: bytes, request_id: str
    ) -> Answer:
        try:
            if path == _TOKEN_PATH:
                if method != "POST":
                    raise HTTPError(405, "Method Not Allowed", {"Allow": "POST"})
                return self._post_token(request, body)
            handler, params = _resolve(method, path)
            user = self._authenticate(request)
            call = _Call(user, params, request.query, body, request_id)
            with self._lock:
                return handler(self, call)
        except HTTPError as exc:
            return json_answer(exc.status, {"detail": exc.detail}, exc.headers)

    def _authenticate(self, request: web.Request) -> SimUser:
        token = _bearer(request)
        with self._lock:
            if token is not None:
                entry = self._tokens.get(token)
                if entry is None or entry.user_id not in self._users:
                    raise unauthorized("Invalid token")
                too_old = self._clock() - entry.issued_at >= self.token_ttl
                if entry.expired or (not entry.static and too_old):
                    raise unauthorized("Token expired")
                return self._users[entry.user_id]
            apikey = request.query.get("apikey")
            for key in self._keys.values():
                if apikey is not None and key.key == apikey and not key.revoked:
                    return self._users[key.user_id]
        raise unauthorized("Not authenticated")

    # ------------------------------------------------------------------ handlers

    def _post_token(self, request: web.Request, body: bytes) -> Answer:
        form: dict[str, list[str]] = {}
        if request.content_type == "application/x-www-form-urlencoded":
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        missing = [name for name in ("username", "password") if name not in form]
        if missing:
            errors = [
                error_item(("body", n), "field required", "value_error.missing") for n in missing
            ]
            raise HTTPError(422, errors)
        username, password = form["username"][0], form["password"][0]
        with self._lock:
            user = next((u for u in self._users.values() if u.username == username), None)
            if user is None or not secrets.compare_digest(user.password, password):
                raise unauthorized("Incorrect username or password")
            token = secrets.token_urlsafe(32)
            self._tokens[token] = _Token(user.id, self._clock(), static=False)
            self._tokens_issued += 1
        ttl = int(self.token_ttl) if float(self.token_ttl).is_integer() else self.token_ttl
        return json_answer(200, {"access_token": token, "token_type": "bearer", "expires_in": ttl})

    def _get_me(self, call: _Call) -> Answer:
        return json_answer(200, call.user.to_json())

    def _get_user(self, call: _Call) -> Answer:
        user_id = path_int(call.params, "user_id")
        return json_answer(200, self._user(user_id).to_json())

    def _get_api_key(self, call: _Call) -> Answer:
        key = self._keys.get(path_int(call.params, "apikey_id"))
        if key is None:
            raise HTTPError(404, "API key not found")
        self._permit(call.user, key.user_id)
        return json_answer(200, key.to_json())

    def _get_usage(self, call: _Call) -> Answer:
        query = Query(call.query)
        eid = query.text("eid", required=True)
        scale = query.choice("scale", SCALES)
        param = query.choice("param", PARAMS)
        span = query.time_range(utc_naive(self._now()))
        limit = query.integer("limit", minimum=1, maximum=_MAX_LIMIT)
        if query.errors or eid is None or scale is None or param is None or span is None:
            raise HTTPError(422, query.errors)
        self._permit(call.user, self._owner_of(eid))
        valued = (
            (b, usage_value(self.seed, eid, scale, param, b))
            for b in bucket_starts(span[0], span[1], scale)
        )
        with_data = ((b, value) for b, value in valued if value)
        points = [[b.isoformat(), v] for b, v in islice(with_data, limit or _DEFAULT_LIMIT)]
        return json_answer(200, points)

    def _get_process(self, call: _Call) -> Answer:
        query = Query(call.query)
        user_id = query.integer("user_id")
        span = query.time_range(utc_naive(self._now()))
        if query.errors or span is None:
            raise HTTPError(422, query.errors)
        target = self._target(call.user, user_id)
        return json_answer(200, process_seconds(self.seed, target.id, *span))

    def _get_summary(self, call: _Call) -> Answer:
        query = Query(call.query)
        user_id = query.integer("user_id")
        query.check()
        target = self._target(call.user, user_id)
        return json_answer(200, self._summary_json(target))

    def _post_update(self, call: _Call) -> Answer:
        target = self._target(call.user, body_user_id(call.body))
        summary = self._summary(target.id)
        summary.updates += 1
        summary.totals = summary.totals + update_increment(self.seed, target.id, summary.updates)
        self._update_ids.append(call.request_id)
        return json_answer(200, self._summary_json(target))

    # ------------------------------------------------------------------ helpers (under lock)

    def _user(self, user_id: int) -> SimUser:
        user = self._users.get(user_id)
        if user is None:
            raise HTTPError(404, "User not found")
        return user

    def _target(self, caller: SimUser, user_id: int | None) -> SimUser:
        target = caller if user_id is None else self._user(user_id)
        self._permit(caller, target.id)
        return target

    @staticmethod
    def _permit(caller: SimUser, owner_id: int) -> None:
        if not caller.is_admin and caller.id != owner_id:
            raise HTTPError(403, "Not allowed")

    def _owner_of(self, eid: str) -> int:
        for key in self._keys.values():
            if key.key == eid:
                return key.user_id
        if eid.isdigit() and int(eid) in self._users:
            return int(eid)
        raise HTTPError(404, "Resource not found")

    def _summary(self, user_id: int) -> _Summary:
        summary = self._summaries.get(user_id)
        if summary is None:
            summary = _Summary(initial_totals(self.seed, user_id))
            self._summaries[user_id] = summary
        return summary

    def _summary_json(self, user: SimUser) -> dict[str, object]:
        """The summary as the real service answers it: one flat object of counters and
        limits (the official SDK's test data), limits first as it lists them."""
        counters = self._summary(user.id).totals.as_fields()
        limits = user.limits
        return {
            "available_storage": limits["available_storage"],
            "used_storage": counters["used_storage"],
            "max_daily_api_calls": limits["max_daily_api_calls"],
            "daily_api_calls": counters["daily_api_calls"],
            "max_monthly_api_calls": limits["max_monthly_api_calls"],
            "monthly_api_calls": counters["monthly_api_calls"],
            "max_daily_traffic": limits["max_daily_traffic"],
            "daily_traffic": counters["daily_traffic"],
            "max_monthly_traffic": limits["max_monthly_traffic"],
            "monthly_traffic": counters["monthly_traffic"],
            "max_daily_process": limits["max_daily_process"],
            "daily_process": counters["daily_process"],
            "max_monthly_process": limits["max_monthly_process"],
            "monthly_process": counters["monthly_process"],
            "remaining_days": user.remaining_days,
        }


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
        raise HTTPError(405, "Method Not Allowed", {"Allow": ", ".join(sorted(set(allowed)))})
    raise HTTPError(404, "Not Found")


async def _send_cut_short(
    request: web.Request, answer: Answer, headers: Mapping[str, str]
) -> web.StreamResponse:
    """Announce ``answer.declared_length`` bytes, send fewer, and close the connection."""
    response = web.StreamResponse(status=answer.status, headers=headers)
    response.content_length = answer.declared_length
    await response.prepare(request)
    await response.write(answer.body)
    if request.transport is not None:
        request.transport.close()
    return response


class _RequestLine(AbstractAccessLogger):
    """The access log's line: method, path, status and time; never the query string,
    which may hold an API key, nor any header."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s -> %d (%.1f ms)", request.method, request.path, response.status, time * 1000
        )
