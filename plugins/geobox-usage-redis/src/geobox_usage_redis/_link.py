"""One client's connection to Redis: short timeouts, fail open (or closed), one warning.

Every store of the plugin reaches Redis through a :class:`RedisLink`. Each call is
bounded by ``RedisSettings.timeout``; when Redis fails or is slow, the link marks it
lost, emits one ``geobox.redis`` event (and one log warning) for the whole outage, and
stops asking for ``retry_interval`` seconds so that calls do not each pay a timeout.
The stores then use their local state (fail open) or raise
:class:`SharedStateUnavailableError` (``fail_closed=True``). When a later call reaches
Redis again, the link emits ``geobox.redis`` with ``state="restored"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from geobox_usage import ApiRequestError
from geobox_usage.events import EventBus
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

__all__ = ["RedisLink", "RedisSettings", "RedisUnavailable", "SharedStateUnavailableError"]

T = TypeVar("T")

_log = logging.getLogger("geobox_usage.redis")


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """How the plugin reaches Redis and what it does when it cannot.

    Attributes:
        url: the Redis URL (``redis://host:6379/0``; ``rediss://`` for TLS). It may hold
            a password; it is never shown in a repr, an event or an error.
        prefix: the first part of every key, so that several applications can share
            one Redis.
        timeout: seconds any one Redis call may take before Redis counts as lost.
        retry_interval: seconds to go without Redis after a failure before trying again.
        fail_closed: when Redis is lost, fail calls with
            :class:`SharedStateUnavailableError` instead of going on with local state
            (for users who must never exceed a quota).
        breaker_refresh: seconds a process trusts a closed circuit without failures
            that it saw in Redis: within them an admission costs no round trip, so a
            call costs one (the rate limiter's); another process's opening reaches this
            one at most this late. ``0`` asks Redis on every admission.
    """

    url: str
    prefix: str = "geobox"
    timeout: float = 0.25
    retry_interval: float = 1.0
    fail_closed: bool = False
    breaker_refresh: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("RedisSettings: url must be a redis://, rediss:// or unix:// URL")
        if (
            not isinstance(self.prefix, str)
            or not self.prefix
            or any(c.isspace() for c in self.prefix)
        ):
            raise ValueError(f"RedisSettings: prefix must be a non-empty word, got {self.prefix!r}")
        for name in ("timeout", "retry_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"RedisSettings: {name} must be a number > 0, got {value!r}")
        refresh = self.breaker_refresh
        if isinstance(refresh, bool) or not isinstance(refresh, int | float) or not refresh >= 0:
            raise ValueError(
                f"RedisSettings: breaker_refresh must be a number >= 0, got {refresh!r}"
            )
        if not isinstance(self.fail_closed, bool):
            raise ValueError(f"RedisSettings: fail_closed must be a bool, got {self.fail_closed!r}")

    def __repr__(self) -> str:
        return (
            f"RedisSettings(url='***', prefix={self.prefix!r}, timeout={self.timeout!r}, "
            f"retry_interval={self.retry_interval!r}, fail_closed={self.fail_closed!r})"
        )


class RedisUnavailable(Exception):
    """Redis is lost (internal: each store turns it into local state or an error)."""


class SharedStateUnavailableError(ApiRequestError):
    """Redis, which holds the fleet's shared limits, cannot be reached, and the plugin
    is set to fail closed: the call was refused without being sent.

    Attributes:
        request_sent: always ``False``.
    """

    request_sent = False


class RedisLink:
    """A lazily opened ``redis.asyncio`` client with timeouts and outage tracking.

    Args:
        settings: the plugin's settings.
        events: where ``geobox.redis`` events go.
    """

    def __init__(self, settings: RedisSettings, events: EventBus) -> None:
        self.settings = settings
        self.events = events
        self.available = True
        self._retry_at = 0.0
        self._client: Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._restore_hooks: list[Callable[[], Awaitable[None]]] = []
        self._closed = False
        self._busy = 0
        self._idle: asyncio.Event | None = None

    def client(self) -> Redis:
        """The Redis client, opened on first use."""
        if self._client is None:
            timeout = self.settings.timeout
            self._client = Redis.from_url(
                self.settings.url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
        return self._client

    def script(self, source: str) -> Any:
        """A registered Lua script (``EVALSHA``, loading it when Redis lost it)."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = self.client().register_script(source)
        return found

    def on_restore(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` (once) each time Redis comes back after an outage."""
        self._restore_hooks.append(hook)

    async def run(self, operation: Callable[[Redis], Awaitable[T]]) -> T:
        """Run ``operation`` within the timeout; raise :class:`RedisUnavailable` if
        Redis is lost (or was lost less than ``retry_interval`` ago), or once the link
        is closed (quietly: a closing client is no outage)."""
        if self._closed or (not self.available and time.monotonic() < self._retry_at):
            raise RedisUnavailable
        self._busy += 1
        try:
            async with asyncio.timeout(self.settings.timeout):
                result = await operation(self.client())
        except (RedisError, OSError, TimeoutError) as exc:
            if self._closed:
                raise RedisUnavailable from None
            self._lost(exc)
            await self._drop_client()
            raise RedisUnavailable from None
        finally:
            self._busy -= 1
            if not self._busy and self._idle is not None:
                self._idle.set()
        if not self.available:
            await self._restored()
        return result

    def refusal(self, what: str, operation: str | None = None) -> SharedStateUnavailableError:
        """The error a fail-closed store raises while Redis is lost."""
        return SharedStateUnavailableError(
            f"{what}: Redis, which holds the shared limits, is unreachable and the "
            "geobox-usage-redis plugin is set to fail closed; nothing was sent",
            operation=operation,
        )

    def _lost(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + self.settings.retry_interval
        if not self.available:
            return
        self.available = False
        reason = type(exc).__name__
        _log.warning(
            "geobox-usage-redis: Redis is unreachable (%s); %s",
            reason,
            "calls are refused" if self.settings.fail_closed else "going on with local state",
        )
        self.events.emit(
            "geobox.redis", state="lost", error_type=reason, fail_closed=self.settings.fail_closed
        )

    async def _restored(self) -> None:
        self.available = True
        _log.warning("geobox-usage-redis: Redis is reachable again")
        self.events.emit(
            "geobox.redis", state="restored", error_type=None, fail_closed=self.settings.fail_closed
        )
        for hook in self._restore_hooks:
            try:
                await hook()
            except RedisUnavailable:
                return

    async def _drop_client(self) -> None:
        """Forget the client and its pooled connections: after an outage, sockets to the
        old server are dead, and each would fail once more when picked from the pool."""
        client, self._client = self._client, None
        self._scripts.clear()
        if client is not None:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    async def aclose(self) -> None:
        """Close the connections, once the calls in progress have ended.

        Idempotent: every store of a client shares this link and closes it with the
        client. Once closed, the link opens no new connection: later calls raise
        :class:`RedisUnavailable` (the stores use their local state) without any
        ``geobox.redis`` event.
        """
        self._closed = True
        while self._busy:  # each is bounded by the timeout
            if self._idle is None or self._idle.is_set():
                self._idle = asyncio.Event()
            await self._idle.wait()
        client, self._client = self._client, None
        self._scripts.clear()
        if client is not None:
            await client.aclose()

    def __repr__(self) -> str:
        state = "available" if self.available else "lost"
        return f"RedisLink(prefix={self.settings.prefix!r}, {state})"
