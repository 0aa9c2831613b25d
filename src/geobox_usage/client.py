"""``AsyncGeoboxClient``: the official SDK's constructor, on a pluggable pipeline.

The client resolves credentials, builds its pipeline once (asking the plugins, through
pluggy, for their stages), owns one ``aiohttp.ClientSession`` (or borrows the host
application's), and turns each call into a :class:`~geobox_usage.Request` that runs
through the pipeline.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp

from geobox_usage import specs
from geobox_usage._clock import Clock, SystemClock
from geobox_usage._credentials import Credentials
from geobox_usage._messages import Request, Response
from geobox_usage._plugins import assemble, make_plugin_manager
from geobox_usage._redact import Pairs
from geobox_usage._secret import Secret
from geobox_usage._spec import RequestSpec
from geobox_usage._tasks import current_task
from geobox_usage._validation import check_id
from geobox_usage.config import (
    CacheConfig,
    CircuitBreakerConfig,
    RateLimitConfig,
    ResponseLimits,
    RetryConfig,
    TimeoutConfig,
)
from geobox_usage.enums import UsageParam, UsageScale
from geobox_usage.errors import (
    ClientClosedError,
    GeoboxError,
    HTTPStatusError,
    RateLimitError,
    ServerError,
)
from geobox_usage.events import EventBus
from geobox_usage.logs import current_request_id, host_request_id
from geobox_usage.logs._request_id import new_request_id
from geobox_usage.pipeline import PipelineContext
from geobox_usage.resources import AsyncApiKey, AsyncUser
from geobox_usage.stages.auth import TOKEN_SPEC
from geobox_usage.usage import AsyncUsage, period_params, user_scope

__all__ = ["AsyncGeoboxClient"]

T = TypeVar("T")

DEFAULT_HOST = "https://api.geobox.ir"
DEFAULT_VERSION = "v1/"
_BASE_HEADERS = (("Accept", "application/json"),)
_AS_JSON: Pairs = (("f", "json"),)
_JSON_HEADERS = (*_BASE_HEADERS, ("Content-Type", "application/json"))


class AsyncGeoboxClient:
    """An async client for the Geobox usage API.

    Args:
        host: the API host.
        ver: the API version path, joined to ``host``.
        username: account name (with ``password``); else ``GEOBOX_USERNAME``.
        password: account password; else ``GEOBOX_PASSWORD``.
        access_token: a bearer token; else ``GEOBOX_ACCESS_TOKEN``. Wins over the others.
        apikey: an API key, sent as the ``apikey`` query parameter; else ``GEOBOX_APIKEY``.
        verify: verify TLS certificates.
        session: an ``aiohttp.ClientSession`` owned by the host application: the client
            sends through its connection pool (and its tracing), never with its defaults
            (headers, cookies, auth, ``raise_for_status``, ``base_url``), and never
            closes it. Without it the client opens its own on first
            use (or on ``async with``) and closes it in :meth:`close`.
        plugins: extra pluggy plugins (objects or modules with ``@hookimpl`` functions).
            One whose ``plugin_name`` equals a built-in's replaces that built-in.
        disable_plugins: names of plugins not to use (``["cache", "retry"]``); a name
            no plugin has is refused.
        retry: retry settings; ``None`` makes one attempt per call.
        rate_limit: rate limit settings; ``None`` turns rate limiting off.
        circuit_breaker: breaker settings; ``None`` turns it off.
        timeout: per-attempt time limits.
        limits: how much of an answer is read before it is refused (4 MiB by default).
        cache: cache settings; ``None`` (the default) stores nothing.
        clock: the clock stages use; tests may inject one.
        plugin_options: free-form settings that third-party plugins read from
            ``context.options``.
        load_entrypoints: also load plugins of the ``geobox_usage`` entry-point group.
        host_request_id_key: the ``structlog.contextvars`` key under which the host
            application binds its own request id; a call started while one is bound
            sends it as its ``X-Request-ID``. ``None`` never reads one.

    Raises:
        ValueError: no credentials, a malformed host, an invalid setting or argument
            type, an unknown plugin name, or a plugin that failed while the client was
            built (named in the message).
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        ver: str = DEFAULT_VERSION,
        username: str | None = None,
        password: str | Secret | None = None,
        access_token: str | Secret | None = None,
        apikey: str | Secret | None = None,
        verify: bool = True,
        *,
        session: aiohttp.ClientSession | None = None,
        plugins: Iterable[object] = (),
        disable_plugins: Iterable[str] = (),
        retry: RetryConfig | None = RetryConfig(),
        rate_limit: RateLimitConfig | None = RateLimitConfig(),
        circuit_breaker: CircuitBreakerConfig | None = CircuitBreakerConfig(),
        timeout: TimeoutConfig = TimeoutConfig(),
        limits: ResponseLimits = ResponseLimits(),
        cache: CacheConfig | None = None,
        clock: Clock | None = None,
        plugin_options: Mapping[str, Any] | None = None,
        load_entrypoints: bool = True,
        host_request_id_key: str | None = "request_id",
    ) -> None:
        self.base_url = _base_url(host, ver)
        if not isinstance(verify, bool):
            raise ValueError(f"verify must be a bool, got {type(verify).__name__}")
        if clock is not None and not all(
            callable(getattr(clock, method, None)) for method in ("monotonic", "time", "sleep")
        ):
            raise ValueError(
                "clock must have monotonic(), time() and sleep() (see geobox_usage.Clock), "
                f"got {type(clock).__name__}"
            )
        _check_type("retry", retry, RetryConfig)
        _check_type("rate_limit", rate_limit, RateLimitConfig)
        _check_type("circuit_breaker", circuit_breaker, CircuitBreakerConfig)
        _check_type("cache", cache, CacheConfig)
        if not isinstance(timeout, TimeoutConfig):
            raise ValueError(f"timeout must be a TimeoutConfig, got {timeout!r}")
        if not isinstance(limits, ResponseLimits):
            raise ValueError(f"limits must be a ResponseLimits, got {type(limits).__name__}")
        if host_request_id_key is not None and (
            not isinstance(host_request_id_key, str) or not host_request_id_key
        ):
            raise ValueError(
                f"host_request_id_key must be a non-empty str or None, got {host_request_id_key!r}"
            )
        self._host_request_id_key = host_request_id_key
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ValueError(f"session must be an aiohttp.ClientSession, got {session!r}")
        self.credentials = Credentials.resolve(
            access_token=access_token,
            apikey=apikey,
            username=username,
            password=password,
            host=urlsplit(self.base_url).netloc.lower(),
        )
        self._host_session = session
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._calls: set[asyncio.Task[Any]] = set()  # tasks inside ``execute``
        self._cut: set[asyncio.Task[Any]] = set()  # of those, the ones ``close`` cancelled
        self._left: asyncio.Event | None = None  # set when a call leaves, while closing
        self._closed = False
        self._connection_limit = rate_limit.max_concurrency if rate_limit else 100
        self.plugin_manager = make_plugin_manager(
            plugins, disable_plugins, load_entrypoints=load_entrypoints
        )
        context = PipelineContext(
            base_url=self.base_url,
            credentials=self.credentials,
            identity=self.credentials.identity,
            retry=retry,
            rate_limit=rate_limit,
            circuit_breaker=circuit_breaker,
            timeout=timeout,
            cache=cache,
            verify=verify,
            clock=clock or SystemClock(),
            events=EventBus(),
            session=self._get_session,
            hook=self.plugin_manager.hook,
            options=dict(plugin_options or {}),
            limits=limits,
        )
        self.context, self.pipeline = assemble(self.plugin_manager, context)
        self._identity = self.context.identity
        self._send = self.pipeline.send

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Open the session and log in, as the official SDK does: with a username and
        password the token is fetched here, so credentials the server refuses raise
        :class:`~geobox_usage.AuthenticationError` on entering (the client is then
        closed). A login that fails for another reason (the connection, a 5xx) is left
        to the first call, which retries it; used without ``async with``, the client
        logs in on its first call."""
        self._check_loop()
        await self._get_session()
        try:
            await self.pipeline.authenticate(self._login_request())
        except GeoboxError as exc:
            refused = isinstance(exc, HTTPStatusError) and not isinstance(
                exc, ServerError | RateLimitError
            )
            if refused:
                await self.close()
                raise
            self.context.events.emit(
                "geobox.auth", action="login_deferred", error_type=type(exc).__name__
            )
        except BaseException:
            await self.close()
            raise
        return self

    def _login_request(self) -> Request:
        rid = current_request_id() or new_request_id()
        return Request(
            spec=TOKEN_SPEC,
            url=self.base_url + TOKEN_SPEC.path,
            request_id=rid,
            identity=self.context.identity,
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Cut the calls in flight, release the pipeline's resources, and close the
        session (ours, or our view of the host's pool: the host's stays open).

        Each call still running ends with :class:`~geobox_usage.ClientClosedError`
        (unless its caller cancelled it too, which stays a cancellation); ``close``
        returns once they have all left the pipeline. Safe to call more than once.

        Raises:
            RuntimeError: called from another event loop than the one the client was
                used in (close it in that loop).
        """
        if self._closed:
            return
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            self._check_loop()  # raises: another loop's connections cannot be closed here
        self._closed = True
        try:
            await self._cut_calls()
        finally:  # even when ``close`` itself is cancelled while the calls leave
            try:
                await self.pipeline.aclose()
            finally:
                session, self._session = self._session, None
                if session is not None:
                    await session.close()

    async def _cut_calls(self) -> None:
        """Cancel every call in flight (but the one calling ``close``, if any) and wait
        until each has left :meth:`execute`, where its cancellation becomes a
        :class:`~geobox_usage.ClientClosedError`."""
        current = asyncio.current_task()
        others = [task for task in self._calls if task is not current]
        if not others:
            return
        self._left = left = asyncio.Event()
        for task in others:
            self._cut.add(task)
            task.cancel("the AsyncGeoboxClient was closed")
        while any(task in self._calls for task in others):
            left.clear()
            await left.wait()

    def _check_loop(self) -> None:
        """Bind the client to the running loop on first use; refuse any other loop."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        if self._loop is None:
            self._loop = loop
            return
        state = "now closed" if self._loop.is_closed() else "still running"
        raise RuntimeError(
            "this AsyncGeoboxClient is used from a second event loop: it belongs to the "
            f"loop it was first used in ({state}), whose connections and locks cannot "
            "serve another. Each asyncio.run() starts a new loop: create the client "
            "inside the loop that uses it (async with AsyncGeoboxClient(...) as client)"
        )

    @staticmethod
    def _closed_error(
        spec: RequestSpec[Any], request_id: str | None, *, cut: bool
    ) -> ClientClosedError:
        if cut:
            text = (
                f"{spec.name}: the client was closed while this call was in flight; the "
                "call was cut short and may or may not have reached the server"
            )
        else:
            text = f"{spec.name}: this AsyncGeoboxClient is closed; create a new one"
        return ClientClosedError(text, operation=spec.name, request_id=request_id)

    def _cut_by_close(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task``'s cancellation came from :meth:`close` alone (and is taken
        back, to become a :class:`ClientClosedError`) rather than from its caller."""
        if task not in self._cut:
            return False
        self._cut.discard(task)
        return task.uncancel() == 0

    def _leave(self, task: asyncio.Task[Any]) -> None:
        self._calls.discard(task)
        if task in self._cut:  # ``close`` cancelled it, but a stage kept the cancellation
            self._cut.discard(task)
            task.uncancel()
        if self._left is not None:
            self._left.set()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is not None:
            return session
        if self._closed:
            raise ClientClosedError("this AsyncGeoboxClient is closed; create a new one")
        host = self._host_session
        if host is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_limit),
                raise_for_status=False,
            )
        else:
            session = _view_of(host)
        self._session = session
        return session

    # -- the one way requests are made --------------------------------------------------

    async def execute(
        self,
        spec: RequestSpec[T],
        *,
        params: Pairs = (),
        json: object = None,
        path_args: Mapping[str, object] | None = None,
        target: str | None = None,
        request_id: str | None = None,
    ) -> T:
        """Run one operation through the pipeline and return its decoded answer.

        Args:
            spec: the operation.
            params: query parameters, in the order they are sent.
            json: a body to send as JSON, if any.
            path_args: values for the ``{fields}`` of the spec's path.
            target: the user the call concerns (``"me"`` or an id), for cache invalidation.
            request_id: the ``X-Request-ID`` to send; when ``None``, the one of a
                :func:`~geobox_usage.request_id` block, else the host's own (see
                ``host_request_id_key``), else a new UUID.
        """
        if self._closed:
            raise self._closed_error(spec, request_id, cut=False)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._check_loop()
        rid = (
            request_id
            or current_request_id()
            or host_request_id(self._host_request_id_key)
            or new_request_id()
        )
        path = spec.path.format_map(path_args) if path_args else spec.path
        headers: tuple[tuple[str, str], ...]
        body: bytes | None
        if json is None:
            headers, body = (*_BASE_HEADERS, ("X-Request-ID", rid)), None
        else:
            headers = (*_JSON_HEADERS, ("X-Request-ID", rid))
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
        request = Request(
            spec, self.base_url + path, params, headers, body, rid, self._identity, target
        )
        task = current_task(loop)
        if task is None:  # pragma: no cover - asyncio runs every coroutine in a task
            raise RuntimeError("AsyncGeoboxClient calls must run inside an asyncio task")
        response: Response | None = None
        calls = self._calls
        calls.add(task)
        try:
            response = await self._send(request)
        except asyncio.CancelledError:
            if not self._cut_by_close(task):
                raise
        finally:
            calls.discard(task)
            if self._cut or self._left is not None:  # only while closing
                self._leave(task)
        if response is None:
            raise self._closed_error(spec, rid, cut=True)  # outside ``except``: no context
        data: T = response.data
        return data

    # -- users and keys -----------------------------------------------------------------

    async def get_user(self, user_id: int | str = "me") -> AsyncUser:
        """Get a user: ``"me"`` (the default) for the credential's own user, or an id
        (an ``int`` or a string of digits, as the official SDK accepts).

        Sends ``GET users/{id}/?f=json``, as the official SDK does.
        """
        if user_id == "me":
            data = await self.execute(specs.CURRENT_USER, params=_AS_JSON, target="me")
        else:
            checked = check_id("user_id", user_id)
            data = await self.execute(
                specs.USER, params=_AS_JSON, path_args={"user_id": checked}, target=str(checked)
            )
        return AsyncUser(self, data["id"], data)

    async def get_apikey(self, key_id: int | str) -> AsyncApiKey:
        """Get an API key by its id (an ``int`` or a string of digits).

        Sends ``GET apikeys/{id}/?f=json``, as the official SDK does.
        """
        checked = check_id("key_id", key_id)
        data = await self.execute(specs.APIKEY, params=_AS_JSON, path_args={"key_id": checked})
        return AsyncApiKey(self, data["id"], data)

    # -- the four usage operations --------------------------------------------------------

    async def get_api_usage(
        self,
        resource: AsyncUser | AsyncApiKey,
        scale: UsageScale,
        param: UsageParam,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        days_before_now: int | None = None,
        limit: int | None = None,
    ) -> list[Any]:
        """See :meth:`AsyncUsage.get_api_usage`."""
        return await AsyncUsage.get_api_usage(
            self, resource, scale, param, from_date, to_date, days_before_now, limit
        )

    async def get_process_usage(
        self,
        user_id: int | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        days_before_now: int | None = None,
    ) -> float:
        """See :meth:`AsyncUsage.get_process_usage`."""
        # The reads build their arguments here rather than awaiting AsyncUsage's
        # method: one frame fewer for every resumption of every call.
        user_params, target = user_scope(user_id)
        period = period_params(from_date, to_date, days_before_now)
        return await self.execute(
            specs.PROCESS_USAGE, params=(*user_params, *period), target=target
        )

    async def get_usage_summary(self, user_id: int | None = None) -> dict[str, Any]:
        """See :meth:`AsyncUsage.get_usage_summary`."""
        params, target = user_scope(user_id)
        return await self.execute(specs.USAGE_SUMMARY, params=params, target=target)

    async def update_usage(self, user_id: int | None = None) -> dict[str, Any]:
        """See :meth:`AsyncUsage.update_usage`."""
        return await AsyncUsage.update_usage(self, user_id)

    def __repr__(self) -> str:
        return (
            f"AsyncGeoboxClient(base_url={self.base_url!r}, credentials={self.credentials!r}, "
            f"pipeline={' -> '.join(self.pipeline.names)!r})"
        )


def _view_of(host: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """A session over the host's connection pool without the host's defaults.

    The host's ``raise_for_status``, default headers (another service's
    ``Authorization``), cookies, auth, ``base_url``, middlewares and timeouts would change
    what this client sends and how it reads the answer; sharing only the connector (and
    the host's tracing and proxy-from-environment choice) keeps the pool shared and the
    requests ours. Closing the view leaves the host's connector open.
    """
    connector = host.connector
    if host.closed or connector is None:
        raise RuntimeError("the aiohttp.ClientSession given as session= is closed")
    return aiohttp.ClientSession(
        connector=connector,
        connector_owner=False,
        raise_for_status=False,
        trust_env=host.trust_env,
        trace_configs=list(host.trace_configs) or None,
    )


def _base_url(host: str, ver: str) -> str:
    if not isinstance(host, str):
        raise ValueError(f"host must be an http:// or https:// URL, got {type(host).__name__}")
    parts = urlsplit(host)
    if parts.username is not None or parts.password is not None:
        # Never echo the host: its user-info may hold a password.
        raise ValueError(
            "host must not hold credentials (user:password@): pass username= and "
            "password=, access_token= or apikey= instead"
        )
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"host must be an http:// or https:// URL, got {host!r}")
    if not parts.netloc:
        raise ValueError(f"host must name a server, got {host!r}")
    if not isinstance(ver, str):
        raise ValueError(f"ver must be a string such as 'v1/', got {ver!r}")
    base = urljoin(host if host.endswith("/") else host + "/", ver)
    return base if base.endswith("/") else base + "/"


def _check_type(name: str, value: object, expected: type) -> None:
    if value is not None and not isinstance(value, expected):
        raise ValueError(
            f"{name} must be a {expected.__name__} or None, got {type(value).__name__}"
        )
