"""The aiohttp transport: sends one request, maps every failure to a typed error.

It is the only place that touches aiohttp's request API. It raises for every non-2xx
answer and for every body the operation cannot decode, and it tells a connection that
never carried the request (safe to repeat, even for an update) apart from one that may
have (not safe).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import cast

import aiohttp
from aiohttp.hdrs import CONTENT_ENCODING
from multidict import CIMultiDictProxy
from yarl import URL

from geobox_usage._clock import Clock
from geobox_usage._memo import remember
from geobox_usage._messages import Request, Response
from geobox_usage._redact import Pairs, scrub
from geobox_usage._secret import Secret, reveal
from geobox_usage._sent import request_started
from geobox_usage._spec import DecodeProblem
from geobox_usage.config import ResponseLimits, TimeoutConfig
from geobox_usage.errors import (
    BODY_EXCERPT_BYTES,
    GeoboxError,
    GeoboxTimeoutError,
    ResponseDecodeError,
    ResponseTooLargeError,
    TransportError,
    error_for_status,
)
from geobox_usage.hookspecs import hookimpl
from geobox_usage.logs._processors import redact_text
from geobox_usage.pipeline import PipelineContext, SessionProvider
from geobox_usage.resilience._deadline import DeadlineWatch

__all__ = ["AiohttpTransport", "geobox_usage_transport"]

_CHUNK = 64 * 1024
_new = tuple.__new__
_MAX_URLS = 256


class AiohttpTransport:
    """Sends requests through the client's ``aiohttp.ClientSession``.

    Args:
        session: returns the open session (the client owns it, or the host app does).
        timeout: per-attempt connect and read limits.
        clock: for ``Retry-After`` dates.
        verify: verify TLS certificates (``False`` only for tests against self-signed hosts).
        limits: how much of an answer is read before it is refused.
    """

    def __init__(
        self,
        session: SessionProvider,
        timeout: TimeoutConfig,
        clock: Clock,
        *,
        verify: bool = True,
        limits: ResponseLimits = ResponseLimits(),
    ) -> None:
        self._session = session
        self._max_body = limits.max_body_bytes
        # aiohttp bounds opening a connection; the attempt as a whole (``read``) is
        # bounded by the transport's deadline watch: one timer for every attempt in
        # flight, where aiohttp's ``sock_read`` arms and cancels one on every read,
        # and a whole-attempt bound also stops a server that trickles its answer.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout.connect)
        self._attempt_limit = timeout.read
        self._watch = DeadlineWatch()
        self._clock = clock
        self._ssl = verify
        self._urls: dict[str, URL] = {}

    async def send(self, request: Request) -> Response:
        session = await self._session()
        started = time.perf_counter()
        failure: GeoboxError | None = None
        request_started.set(True)
        guard = self._watch.enter(self._attempt_limit)
        try:
            status, headers, body, whole = await self._exchange(session, request)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            failure = _failure(request, exc)
        except asyncio.CancelledError:
            if not self._watch.timed_out(guard):
                raise  # the call's deadline or the caller: not this attempt's limit
            failure = _timeout(request, "waiting for the answer", sent=True)
        finally:
            self._watch.leave(guard)
        if failure is not None:
            # Raised here, outside the ``except`` block, so that no chained exception
            # (``__cause__`` or ``__context__``) carries aiohttp's error: its text, and
            # the locals of its traceback, hold the URL with the API key and the headers.
            raise failure
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if not 200 <= status < 300:
            # An error body past the limit is reported from the part read: its
            # ``detail`` is then unreadable and left out, never parsed whole.
            raise error_for_status(request, status, headers, body, now=self._clock.time())
        if not whole:
            raise ResponseTooLargeError(
                f"{request.operation}: {request.method} {request.display_url} answered "
                f"{status} with a body over the limit of {self._max_body:,} bytes "
                "(ResponseLimits.max_body_bytes); reading stopped there",
                limit=self._max_body,
                status=status,
                operation=request.operation,
                request_id=headers.get("X-Request-ID") or request.request_id,
            )
        try:
            data = request.spec.decode(body)
        except DecodeProblem as exc:
            problem = str(exc)
        else:
            # Every field given, as ``Response._make`` does: no ``__new__`` frame.
            return _new(Response, (request, status, headers, body, data, 1, None, elapsed_ms))
        raise ResponseDecodeError(
            f"{request.operation}: {request.method} {request.display_url} answered "
            f"{status} with a body that is not what the operation expects: {problem}",
            status=status,
            body=body[:BODY_EXCERPT_BYTES].decode("utf-8", errors="replace"),
            operation=request.operation,
            request_id=headers.get("X-Request-ID") or request.request_id,
        )

    async def _exchange(
        self, session: aiohttp.ClientSession, request: Request
    ) -> tuple[int, CIMultiDictProxy[str], bytes, bool]:
        """Send ``request`` once and read the answer, up to the body limit.

        Returns the status, the headers, the body (at most ``max_body_bytes`` of it,
        decompressed) and whether that is the whole body. Past the limit, reading stops
        and the connection is closed rather than drained.

        The only frame that holds aiohttp's objects (whose reprs show the URL with its
        query string): it appears in aiohttp's own tracebacks, which are never chained
        to the errors this transport raises.
        """
        url = self._urls.get(request.url)
        if url is None:
            url = self._parsed(request.url)
        async with session.request(
            request.method,
            url,
            params=_on_the_wire(request.params),
            headers=_on_the_wire(request.headers),
            data=request.body,
            timeout=self._timeout,
            ssl=self._ssl,
            allow_redirects=False,
        ) as answer:
            declared = answer.content_length
            if (
                declared is not None
                and declared <= self._max_body
                and CONTENT_ENCODING not in answer.headers
            ):
                # An uncompressed body of a declared length within the limit is all
                # aiohttp will read: read it at once. A compressed one may inflate
                # past the limit (a small gzip bomb), so it is read piece by piece.
                body, whole = await answer.read(), True
            else:
                body, whole = await _read_capped(answer, self._max_body)
            if not whole:
                answer.close()  # the rest is never read: the connection goes
            return answer.status, answer.headers, body, whole

    def _parsed(self, url: str) -> URL:
        """``url`` parsed, kept for the next request to it (the few URLs of the API)."""
        return remember(self._urls, url, URL(url), _MAX_URLS)  # ids in paths: bounded

    async def aclose(self) -> None:
        """Stop the attempt timer (the client owns the session's lifetime)."""
        self._watch.close()


async def _read_capped(answer: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body (decompressed), and whether that is all of it.

    A declared ``Content-Length`` past the limit is refused before reading anything.
    """
    declared = answer.content_length
    if declared is not None and declared > limit:
        return b"", False
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: limit - (size - len(chunk))])
            return b"".join(chunks), False
        chunks.append(chunk)
    return b"".join(chunks), True


def _on_the_wire(pairs: Pairs) -> Sequence[tuple[str, str]]:
    """``pairs`` with their secrets revealed: only ever built inside the call that sends.

    Pairs without a secret (the usual query) are sent as they are, without a copy.
    """
    for _, value in pairs:
        if value.__class__ is not str:
            return [
                (name, value if value.__class__ is str else reveal(value)) for name, value in pairs
            ]
    return cast("Sequence[tuple[str, str]]", pairs)


def _secrets_of(request: Request) -> list[Secret]:
    return [v for _, v in (*request.params, *request.headers) if isinstance(v, Secret)]


def _failure(request: Request, exc: BaseException) -> GeoboxError:
    """The typed error for an attempt that got no answer, told in words that hold no
    secret: aiohttp's own text is summarised and scrubbed, never copied whole."""
    operation, rid = request.operation, request.request_id
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return _timeout(request, "connecting", sent=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        return TransportError(
            f"{operation}: cannot connect to {exc.host}:{exc.port} ({reason}); "
            "the request was not sent",
            request_sent=False,
            operation=operation,
            request_id=rid,
        )
    if isinstance(exc, aiohttp.SocketTimeoutError | TimeoutError):
        return _timeout(request, "waiting for the answer", sent=True)
    if isinstance(exc, ValueError) and not isinstance(exc, aiohttp.ClientError):
        # aiohttp refuses to build the request (a header value with a line break, say).
        return TransportError(
            f"{operation}: {request.method} {request.display_url} could not be sent: "
            f"{scrub(_describe(exc), _secrets_of(request))}",
            request_sent=False,
            operation=operation,
            request_id=rid,
        )
    return TransportError(
        f"{operation}: {request.method} {request.display_url} failed: "
        f"{scrub(_describe(exc), _secrets_of(request))}; the request may have reached "
        "the server",
        request_sent=True,
        operation=operation,
        request_id=rid,
    )


def _describe(exc: BaseException) -> str:
    """The error's type and its own message, without the URL or headers aiohttp adds."""
    if isinstance(exc, aiohttp.ClientResponseError):
        text = exc.message  # its str() appends the URL, with the query string
    elif isinstance(exc, aiohttp.InvalidURL):
        text = "invalid URL"  # its str() is the URL
    else:
        text = str(exc)
    text = redact_text(text.splitlines()[0] if text else "")[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _timeout(request: Request, phase: str, *, sent: bool) -> GeoboxTimeoutError:
    return GeoboxTimeoutError(
        f"{request.operation}: timed out {phase} for {request.method} {request.display_url}",
        request_sent=sent,
        operation=request.operation,
        request_id=request.request_id,
    )


@hookimpl(trylast=True)
def geobox_usage_transport(context: PipelineContext) -> AiohttpTransport:
    """The built-in transport (``trylast``: any other plugin's transport wins)."""
    return AiohttpTransport(
        context.session,
        context.timeout,
        context.clock,
        verify=context.verify,
        limits=context.limits,
    )
