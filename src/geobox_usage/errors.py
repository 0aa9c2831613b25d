"""One hierarchy for everything that can go wrong, all under :class:`GeoboxError`.

Every non-2xx answer raises: nothing is handed back as data. Each error carries what
an operator needs (operation, method, redacted URL, request id, attempts) and never a
secret. Transport errors say whether the request may have reached the server, which
is what decides whether a non-idempotent call may be repeated.
"""

from __future__ import annotations

import copy
import json
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar

from multidict import CIMultiDict, CIMultiDictProxy

if TYPE_CHECKING:
    from geobox_usage._messages import Request

__all__ = [
    "ApiRequestError",
    "AuthenticationError",
    "AuthorizationError",
    "CircuitOpenError",
    "ClientClosedError",
    "ClientRateLimitError",
    "GeoboxError",
    "GeoboxTimeoutError",
    "HTTPStatusError",
    "NotFoundError",
    "RateLimitError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "ServerError",
    "TransportError",
    "ValidationError",
    "copy_for_caller",
    "error_for_status",
    "parse_retry_after",
]

BODY_EXCERPT_BYTES = 1024


class GeoboxError(Exception):
    """The base of every error this library raises for a failed call.

    Built as the official SDK's errors are, with the message first and positional
    (``GeoboxError("text")``), so code that raises or catches them keeps working.

    Attributes:
        message: what failed, on which operation, and what to do.
        status_code: the HTTP status of the answer, or ``None`` when there was none.
        operation: the operation's name (``"get_usage_summary"``), when known.
        request_id: the call's ``X-Request-ID``.
        attempts: how many attempts were made before giving up.
    """

    status_code: int | None = None

    def __init__(
        self,
        message: str = "Geobox request failed",
        *,
        operation: str | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.request_id = request_id
        self.attempts = attempts

    def __str__(self) -> str:
        parts = [self.message]
        if self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({'; '.join(parts[1:])})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors cannot be rebuilt from ``args``: rebuild from the
        # attributes instead, so errors can be copied and pickled (multiprocessing).
        # Answer headers travel as pairs: multidict's read-only proxy cannot be pickled.
        state = dict(self.__dict__)
        headers = state.get("headers")
        if headers is not None:
            state["headers"] = tuple(headers.items())
        return (_rebuild, (type(self), self.message, state))


def _rebuild(cls: type[GeoboxError], message: str, state: dict[str, Any]) -> GeoboxError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    if isinstance(state.get("headers"), tuple):
        state["headers"] = CIMultiDictProxy(CIMultiDict(state["headers"]))
    error.__dict__.update(state)
    return error


E = TypeVar("E", bound=GeoboxError)


def copy_for_caller(error: E) -> E:
    """A copy of ``error`` for another caller that shares one outcome (a single flight).

    Each caller gets its own error object, so that what one caller's stages set on it
    (``attempts``, a traceback) never shows in another's; the cause is kept.
    """
    clone = copy.copy(error)
    clone.__cause__ = error.__cause__
    clone.__traceback__ = None
    return clone


class HTTPStatusError(GeoboxError):
    """The server answered with an error status: the base of the per-status errors.

    As in the official SDK, the per-status errors sit beside :class:`ApiRequestError`,
    not under it: ``except ApiRequestError`` catches calls that got no answer, never a
    404. Each may be raised by hand with a message only (``NotFoundError("no user")``);
    the status then defaults to the class's own.

    Attributes:
        status: the HTTP status code (also ``status_code``).
        method: the request's HTTP method.
        url: the request URL with its query string, credentials redacted.
        detail: the parsed FastAPI ``detail`` (a string or a list of problems), if any.
        body: the first KiB of the body, as text.
        retry_after: seconds the server asked to wait (``Retry-After``), if it did.
        headers: the answer's headers.
    """

    default_status: int = 400

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        method: str = "",
        url: str = "",
        detail: Any = None,
        body: str = "",
        retry_after: float | None = None,
        headers: CIMultiDictProxy[str] | None = None,
        operation: str | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.status = self.default_status if status is None else status
        self.status_code = self.status
        self.method = method
        self.url = url
        self.detail = detail
        self.body = body
        self.retry_after = retry_after
        self.headers = headers
        if message is None:
            message = _http_message(operation, method, url, self.status, detail, retry_after)
        super().__init__(message, operation=operation, request_id=request_id, attempts=attempts)


class ValidationError(HTTPStatusError):
    """400 or 422: the server rejected the parameters."""

    default_status = 422


class AuthenticationError(HTTPStatusError):
    """401: credentials missing, wrong or expired."""

    default_status = 401


class AuthorizationError(HTTPStatusError):
    """403: the credential may not do this (another user's usage, for one)."""

    default_status = 403


class NotFoundError(HTTPStatusError):
    """404: no such user or API key."""

    default_status = 404


class RateLimitError(HTTPStatusError):
    """429: too many requests; ``retry_after`` says how long the server asked to wait."""

    default_status = 429


class ClientRateLimitError(RateLimitError):
    """The client's own rate limiter refused the call: nothing was sent.

    Raised at once, without sending, when waiting for the limiter (the configured rate,
    or a pause the server asked for with ``X-RateLimit-Remaining: 0``) would pass the
    call's deadline. It is a :class:`RateLimitError`, with ``status`` 429, so that code
    which backs off on "too many requests" treats both alike; ``request_sent`` (always
    ``False``) and ``headers`` (``None``: there was no answer) tell it apart from a 429
    the server sent.

    Attributes:
        request_sent: always ``False``.
        retry_after: seconds until the limiter would have let the call through.
    """

    request_sent = False


class ServerError(HTTPStatusError):
    """5xx: a fault on the server or a gateway in front of it."""

    default_status = 500


class ApiRequestError(GeoboxError):
    """The call got no answer: the connection failed, timed out, or was never tried.

    The official SDK raises it for a failed connection, built as
    ``ApiRequestError(status_code, message)``; both that form and a message alone
    (``ApiRequestError("text")``) work here. Its subclasses say more:
    :class:`TransportError`, :class:`GeoboxTimeoutError`, :class:`CircuitOpenError`.
    """

    def __init__(
        self,
        *args: Any,
        operation: str | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        if len(args) == 2:
            status, message = args
            self.status_code = status if isinstance(status, int) else None
        elif len(args) == 1 and isinstance(args[0], int) and not isinstance(args[0], bool):
            self.status_code, message = args[0], "API request failed"
        elif len(args) == 1:
            (message,) = args
        elif not args:
            message = "API request failed"
        else:
            raise TypeError(
                "ApiRequestError takes (message) or (status_code, message), "
                f"got {len(args)} positional arguments"
            )
        super().__init__(
            str(message), operation=operation, request_id=request_id, attempts=attempts
        )


class TransportError(ApiRequestError):
    """The request could not be completed at the connection level.

    Attributes:
        request_sent: ``False`` only when the request provably never reached the server
            (the connection was refused or never established); ``True`` when it may have.
    """

    def __init__(
        self,
        message: str = "the connection failed",
        *,
        request_sent: bool = True,
        operation: str | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.request_sent = request_sent
        super().__init__(message, operation=operation, request_id=request_id, attempts=attempts)


class GeoboxTimeoutError(ApiRequestError):
    """An attempt or the whole call ran out of time.

    Attributes:
        request_sent: whether the request may have reached the server (``False`` for a
            connect timeout, ``True`` for a read timeout or a spent deadline).
    """

    def __init__(
        self,
        message: str = "the call timed out",
        *,
        request_sent: bool = True,
        operation: str | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.request_sent = request_sent
        super().__init__(message, operation=operation, request_id=request_id, attempts=attempts)


class CircuitOpenError(ApiRequestError):
    """The circuit breaker for the host is open: the call failed fast, nothing was sent.

    Attributes:
        host: the host whose circuit is open.
        retry_in: seconds until the breaker lets a probe through.
    """

    def __init__(
        self,
        message: str = "the circuit is open",
        *,
        host: str = "",
        retry_in: float = 0.0,
        operation: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.host = host
        self.retry_in = retry_in
        super().__init__(message, operation=operation, request_id=request_id)


class ResponseDecodeError(GeoboxError):
    """A 2xx answer whose body cannot be read as JSON (or as the object an operation
    needs to build its result, such as a user's ``id``). Never retried: the server
    answered, and asking again gets the same body.

    Attributes:
        status: the HTTP status of the answer (also ``status_code``).
        body: the first KiB of the body, as text.
    """

    def __init__(
        self,
        message: str = "the answer could not be read",
        *,
        status: int = 200,
        body: str = "",
        operation: str | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.status_code = status
        self.body = body
        super().__init__(message, operation=operation, request_id=request_id, attempts=attempts)


class ResponseTooLargeError(ResponseDecodeError):
    """A successful answer whose body passed ``ResponseLimits.max_body_bytes``: reading
    stopped there (decompressed bytes counted), and the connection was closed. Not
    retried: the server would send the same.

    Attributes:
        limit: the limit in bytes.
    """

    def __init__(
        self,
        message: str = "the answer is too large",
        *,
        limit: int = 0,
        status: int = 200,
        operation: str | None = None,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.limit = limit
        super().__init__(
            message,
            status=status,
            body="",
            operation=operation,
            request_id=request_id,
            attempts=attempts,
        )


class ClientClosedError(GeoboxError, RuntimeError):
    """The client was closed: the call was cut short by :meth:`AsyncGeoboxClient.close`,
    or was made after it. Says nothing about the server: it is never retried and never
    counts against the host's circuit breaker.

    It is also a ``RuntimeError``, which is what a call on a closed client raised before.
    """

    def __init__(
        self,
        message: str = "the client was closed",
        *,
        operation: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation, request_id=request_id)


_STATUS_CLASSES: dict[int, type[HTTPStatusError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: AuthorizationError,
    404: NotFoundError,
    422: ValidationError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[HTTPStatusError]:
    """The error class that a non-2xx ``status`` raises."""
    if status >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status, HTTPStatusError)


def error_for_status(
    request: Request,
    status: int,
    headers: CIMultiDictProxy[str],
    body: bytes,
    *,
    now: float,
) -> HTTPStatusError:
    """Build the error for a non-2xx answer to ``request``.

    Args:
        request: the request that was answered.
        status: the answer's status.
        headers: the answer's headers.
        body: the answer's body (JSON, HTML, or anything else).
        now: the current wall-clock time (seconds since the epoch), for HTTP-date
            ``Retry-After`` values.
    """
    return error_class_for(status)(
        None,
        status=status,
        method=request.method,
        url=request.display_url,
        detail=_parse_detail(body),
        body=body[:BODY_EXCERPT_BYTES].decode("utf-8", errors="replace"),
        retry_after=parse_retry_after(headers.get("Retry-After"), now=now),
        headers=headers,
        operation=request.operation,
        request_id=headers.get("X-Request-ID") or request.request_id,
    )


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date.

    Returns ``None`` for an absent or unreadable value; never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


DETAIL_MAX_BYTES = 64 * 1024
"""The largest error body parsed for its ``detail``: FastAPI's error bodies are a few
hundred bytes; a larger one is reported without a ``detail`` rather than parsed."""


def _parse_detail(body: bytes) -> Any:
    # An error body is read for its ``detail`` only; whatever cannot be read (not JSON,
    # too large, cut at the size limit, nested past the parser's recursion, a
    # 5,000-digit number) leaves the error without one, and never raises in its place.
    if len(body) > DETAIL_MAX_BYTES:
        return None
    try:
        parsed = json.loads(body)
    except (RecursionError, ValueError):
        return None
    return parsed.get("detail") if isinstance(parsed, dict) else None


def _describe_detail(detail: Any) -> str | None:
    if detail is None:
        return None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        problems = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(part) for part in item.get("loc", ()))
                msg = item.get("msg", "invalid")
                problems.append(f"{loc}: {msg}" if loc else str(msg))
            else:
                problems.append(str(item))
        return "; ".join(problems)
    return str(detail)


def _http_message(
    operation: str | None,
    method: str,
    url: str,
    status: int,
    detail: Any,
    retry_after: float | None,
) -> str:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown Status"
    prefix = f"{operation}: " if operation else ""
    text = f"{prefix}{method} {url} answered {status} {reason}"
    described = _describe_detail(detail)
    if described:
        text += f": {described}"
    if retry_after is not None:
        text += f" (retry after {retry_after:g}s)"
    return text
