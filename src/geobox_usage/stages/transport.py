"""The aiohttp transport: sends one request, maps every failure to a typed error.

It is the only place that touches aiohttp's request API. It raises for every non-2xx
answer and for every body the operation cannot decode, and it tells a connection that
never carried the request (safe to repeat, even for an update) apart from one that may
have (not safe).
"""

from __future__ import annotations

import time

import aiohttp

from geobox_usage._clock import Clock
from geobox_usage._messages import Request, Response
from geobox_usage._spec import DecodeProblem
from geobox_usage.config import TimeoutConfig
from geobox_usage.errors import (
    BODY_EXCERPT_BYTES,
    GeoboxTimeoutError,
    ResponseDecodeError,
    TransportError,
    error_for_status,
)
from geobox_usage.hookspecs import hookimpl
from geobox_usage.pipeline import PipelineContext, SessionProvider

__all__ = ["AiohttpTransport", "geobox_usage_transport"]


class AiohttpTransport:
    """Sends requests through the client's ``aiohttp.ClientSession``.

    Args:
        session: returns the open session (the client owns it, or the host app does).
        timeout: per-attempt connect and read limits.
        clock: for ``Retry-After`` dates.
        verify: verify TLS certificates (``False`` only for tests against self-signed hosts).
    """

    def __init__(
        self,
        session: SessionProvider,
        timeout: TimeoutConfig,
        clock: Clock,
        *,
        verify: bool = True,
    ) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout.connect, sock_read=timeout.read
        )
        self._clock = clock
        self._ssl = verify

    async def send(self, request: Request) -> Response:
        session = await self._session()
        started = time.perf_counter()
        try:
            async with session.request(
                request.method,
                request.url,
                params=request.params,
                headers=request.headers,
                data=request.body,
                timeout=self._timeout,
                ssl=self._ssl,
                allow_redirects=False,
            ) as answer:
                status = answer.status
                headers = answer.headers
                body = await answer.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise _timeout(request, "connecting", exc, sent=False) from exc
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(
                f"{request.operation}: cannot connect to {exc.host}:{exc.port} "
                f"({exc.os_error.strerror or type(exc.os_error).__name__}); "
                "the request was not sent",
                request_sent=False,
                operation=request.operation,
                request_id=request.request_id,
            ) from exc
        except (aiohttp.SocketTimeoutError, TimeoutError) as exc:
            raise _timeout(request, "waiting for the answer", exc, sent=True) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(
                f"{request.operation}: {request.method} {request.display_url} failed: "
                f"{_describe(exc)}; the request may have reached the server",
                request_sent=True,
                operation=request.operation,
                request_id=request.request_id,
            ) from exc
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if not 200 <= status < 300:
            raise error_for_status(request, status, headers, body, now=self._clock.time())
        try:
            data = request.spec.decode(body)
        except DecodeProblem as exc:
            raise ResponseDecodeError(
                f"{request.operation}: {request.method} {request.display_url} answered "
                f"{status} with a body that is not what the operation expects: {exc}",
                status=status,
                body=body[:BODY_EXCERPT_BYTES].decode("utf-8", errors="replace"),
                operation=request.operation,
                request_id=headers.get("X-Request-ID") or request.request_id,
            ) from None
        return Response(
            request=request,
            status=status,
            headers=headers,
            body=body,
            data=data,
            elapsed_ms=elapsed_ms,
        )

    async def aclose(self) -> None:
        """Nothing to release: the client owns the session's lifetime."""


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _timeout(request: Request, phase: str, exc: BaseException, *, sent: bool) -> GeoboxTimeoutError:
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
    )
