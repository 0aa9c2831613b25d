"""The transport pipeline: ordered stages around a transport, assembled once per client.

A stage has the shape of an aiohttp client middleware::

    async def __call__(self, request: Request, call_next: Handler) -> Response

It may change the request (by building a new one), call ``call_next`` zero, one or
several times, and change or replace the answer. Stages come from pluggy plugins
(built-in and third-party alike) through the ``geobox_usage_stage`` hook; the client
asks pluggy once, at construction, and links the stages into plain awaited callables,
so a call costs no plugin dispatch at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pluggy

from geobox_usage._clock import Clock
from geobox_usage._credentials import Credentials
from geobox_usage._messages import Request, Response
from geobox_usage.config import (
    CacheConfig,
    CircuitBreakerConfig,
    RateLimitConfig,
    ResponseLimits,
    RetryConfig,
    TimeoutConfig,
)
from geobox_usage.events import EventBus

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "Authenticator",
    "Handler",
    "Pipeline",
    "PipelineContext",
    "PipelineStage",
    "SessionProvider",
    "Slot",
    "Stage",
    "Transport",
]

Handler = Callable[[Request], Awaitable[Response]]
"""The rest of the pipeline, as seen by a stage: send a request, get an answer."""

SessionProvider = Callable[[], Awaitable["aiohttp.ClientSession"]]
"""Returns the client's open ``aiohttp.ClientSession`` (opening it on first use)."""


class Slot(IntEnum):
    """Where a stage sits, outermost first. Third-party stages pick a slot, or a number
    between two slots (``Slot.CACHE + 50``); stages with equal numbers keep the order
    in which their plugins were registered."""

    LOGGING = 100
    CACHE = 200
    RETRY = 300
    CIRCUIT_BREAKER = 400
    RATE_LIMIT = 500
    AUTH = 600


@runtime_checkable
class Stage(Protocol):
    """One link of the pipeline."""

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        """Handle ``request``, usually by awaiting ``call_next`` with it or a copy."""
        ...


@runtime_checkable
class Authenticator(Protocol):
    """A stage that can log in ahead of the first call (the built-in password auth).

    The client calls :meth:`authenticate` when it enters ``async with``, as the official
    SDK logs in there, so wrong credentials raise at once rather than on the first
    call. A custom auth stage that fetches tokens should implement it too.
    """

    async def authenticate(self, request: Request, call_next: Handler) -> None:
        """Obtain what later calls need (a token), sending through ``call_next``.

        Args:
            request: a request carrying the login's request id (its spec and URL are
                the token endpoint's); build the real login request from it.
            call_next: the rest of the pipeline below this stage.
        """
        ...


@runtime_checkable
class Transport(Protocol):
    """The end of the pipeline: sends a request over the network, once."""

    async def send(self, request: Request) -> Response:
        """Send ``request`` once; raise a :class:`~geobox_usage.GeoboxError` on failure."""
        ...

    async def aclose(self) -> None:
        """Release what the transport holds (it never closes a host-owned session)."""
        ...


@dataclass(frozen=True, slots=True)
class PipelineStage:
    """A stage as a plugin contributes it.

    Attributes:
        name: the stage's name, shown in ``repr(client)``, logs and docs.
        slot: where it sits (a :class:`Slot` or any integer; lower is outer).
        stage: the stage itself.
        aclose: awaited when the client closes, to release what the stage holds.
    """

    name: str
    slot: int
    stage: Stage
    aclose: Callable[[], Awaitable[None]] | None = None


@dataclass(frozen=True, slots=True)
class PipelineContext:
    """What a plugin knows about the client it builds stages for.

    Attributes:
        base_url: the versioned base URL (``https://api.geobox.ir/v1/``).
        credentials: the resolved credential material (its repr is redacted).
        identity: the non-secret fingerprint of the credential in use.
        retry: retry settings, or ``None`` when retrying is off.
        rate_limit: rate limit settings, or ``None`` when rate limiting is off.
        circuit_breaker: breaker settings, or ``None`` when it is off.
        timeout: per-attempt time limits.
        limits: how much of an answer is read before it is refused.
        cache: cache settings, or ``None`` when nothing is stored.
        verify: whether TLS certificates are verified.
        clock: the clock every stage uses (injectable for tests).
        events: where stages emit :class:`~geobox_usage.events.PipelineEvent`.
        session: returns the client's open ``aiohttp.ClientSession``.
        hook: the client's pluggy hook relay, so that a stage factory can ask other
            plugins for what it needs (``context.hook.geobox_usage_cache_backend(
            context=context)``); only while the client is built, never per request.
        options: free-form settings for third-party plugins (``plugin_options=``).
    """

    base_url: str
    credentials: Credentials
    identity: str
    retry: RetryConfig | None
    rate_limit: RateLimitConfig | None
    circuit_breaker: CircuitBreakerConfig | None
    timeout: TimeoutConfig
    cache: CacheConfig | None
    verify: bool
    clock: Clock
    events: EventBus
    session: SessionProvider = field(repr=False)
    hook: pluggy.HookRelay = field(repr=False)
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    limits: ResponseLimits = ResponseLimits()


def _linked(stage: Stage, call_next: Handler) -> Handler:
    """``stage`` as a handler that passes ``call_next`` on: one per stage, built once.

    A closure over the stage's bound ``__call__``: calling it costs about a third less
    than ``partial(stage, call_next=...)``, which copies its keywords into a new dict
    and looks ``__call__`` up on every call. It returns the stage's coroutine without
    awaiting it, so it adds no frame to the chain of awaits (or to tracebacks).
    """
    run = stage.__call__

    def handler(request: Request) -> Awaitable[Response]:
        return run(request, call_next)

    return handler


class Pipeline:
    """Stages linked in slot order around a transport, ready to run requests."""

    __slots__ = ("_authenticators", "_handler", "stages", "transport")

    def __init__(self, stages: Sequence[PipelineStage], transport: Transport) -> None:
        self.stages: tuple[PipelineStage, ...] = tuple(sorted(stages, key=lambda s: s.slot))
        self.transport = transport
        handler: Handler = transport.send
        authenticators: list[tuple[Authenticator, Handler]] = []
        for entry in reversed(self.stages):
            if isinstance(entry.stage, Authenticator):
                authenticators.append((entry.stage, handler))
            handler = _linked(entry.stage, handler)
        self._handler = handler
        self._authenticators = tuple(reversed(authenticators))

    @property
    def names(self) -> tuple[str, ...]:
        """Stage names, outermost first, then ``"transport"``."""
        return (*(s.name for s in self.stages), "transport")

    @property
    def send(self) -> Handler:
        """Runs a request through every stage and the transport: the outermost stage
        itself, linked at construction (no extra frame per call)."""
        return self._handler

    async def authenticate(self, request: Request) -> None:
        """Let every :class:`Authenticator` stage log in, outermost first (each sends
        through the stages below it); nothing happens when there is none."""
        for stage, call_next in self._authenticators:
            await stage.authenticate(request, call_next)

    async def aclose(self) -> None:
        """Close the stages (innermost first), then the transport; every one is tried."""
        errors: list[BaseException] = []
        closers = [s.aclose for s in reversed(self.stages) if s.aclose is not None]
        closers.append(self.transport.aclose)
        for close in closers:
            try:
                await close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def __repr__(self) -> str:
        return f"Pipeline({' -> '.join(self.names)})"
