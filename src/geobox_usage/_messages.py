"""The values that cross stage boundaries: one request attempt and its answer.

Both are immutable: a stage that wants to change a request builds a new one with
:meth:`Request.with_header` or :meth:`Request.with_param`, so no stage can change
what another stage already saw. Their reprs never show secrets.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from multidict import CIMultiDictProxy

from geobox_usage._memo import remember
from geobox_usage._redact import Pairs, redact_headers, redacted_url
from geobox_usage._secret import Secret
from geobox_usage._spec import RequestSpec

__all__ = ["Request", "Response"]

_new = tuple.__new__
"""How a named tuple's own ``_make`` builds one from all its fields: the copies below
give every field, so they skip ``__new__``'s argument binding (a Python call)."""


class Request(NamedTuple):
    """One request as the pipeline carries it.

    Immutable (a named tuple: building one costs a fraction of a frozen dataclass, and
    the pipeline builds several per call); copies with a change are made with
    :meth:`with_header`, :meth:`with_param` and :meth:`for_attempt`.

    Attributes:
        spec: the operation being executed.
        url: the absolute URL, without the query string.
        params: query parameters in the order they are sent; secret values (an API
            key) are :class:`~geobox_usage.Secret`, revealed only by the transport.
        headers: request headers; secret values (``Authorization``) are
            :class:`~geobox_usage.Secret` too.
        body: the encoded body, if any (its ``Content-Type`` is among ``headers``).
        request_id: the call's ``X-Request-ID``, the same for all its attempts.
        identity: a non-secret fingerprint of the credential the call runs under;
            caches and limiters key on it so that two credentials never share state.
        target: the user the call concerns (``"me"`` for the current user, a user id,
            or ``None`` when not user-scoped); caches use it to invalidate.
        attempt: the attempt number, 1 for the first.
        deadline: the monotonic time past which the call must not go on, or ``None``.
    """

    spec: RequestSpec[Any]
    url: str
    params: Pairs = ()
    headers: Pairs = ()
    body: bytes | None = None
    request_id: str = ""
    identity: str = ""
    target: str | None = None
    attempt: int = 1
    deadline: float | None = None

    @property
    def method(self) -> str:
        """The HTTP method, from the spec."""
        return self.spec.method

    @property
    def operation(self) -> str:
        """The operation's name, from the spec."""
        return self.spec.name

    def with_header(self, name: str, value: str | Secret) -> Request:
        """Return a copy with header ``name`` set to ``value`` (replacing any)."""
        spec, url, params, headers, body, rid, identity, target, attempt, deadline = self
        lowered = name.lower()
        for key, _ in headers:
            if key.lower() == lowered:
                headers = tuple(pair for pair in headers if pair[0].lower() != lowered)
                break
        headers = (*headers, (name, value))
        return _new(
            Request, (spec, url, params, headers, body, rid, identity, target, attempt, deadline)
        )

    def with_param(self, name: str, value: str | Secret) -> Request:
        """Return a copy with query parameter ``name`` set to ``value`` (replacing any)."""
        spec, url, params, headers, body, rid, identity, target, attempt, deadline = self
        params = (*(pair for pair in params if pair[0] != name), (name, value))
        return _new(
            Request, (spec, url, params, headers, body, rid, identity, target, attempt, deadline)
        )

    def for_attempt(self, attempt: int, deadline: float | None = None) -> Request:
        """Return a copy numbered ``attempt`` (for retries), bounded by ``deadline`` when
        one is given, else by the current deadline."""
        spec, url, params, headers, body, rid, identity, target, _, current = self
        if deadline is None:
            deadline = current
        return _new(
            Request, (spec, url, params, headers, body, rid, identity, target, attempt, deadline)
        )

    def header(self, name: str) -> str | Secret | None:
        """The value of header ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        for k, v in self.headers:
            if k.lower() == lowered:
                return v
        return None

    @property
    def path(self) -> str:
        """The URL's path (``https://host/v1/usage/api`` → ``/v1/usage/api``), for logs."""
        path = _PATHS.get(self.url)
        return path if path is not None else _path_of(self.url)

    @property
    def display_url(self) -> str:
        """The URL with its query string, secrets redacted: safe to log or show."""
        return redacted_url(self.url, self.params)

    def __repr__(self) -> str:
        return (
            f"Request({self.method} {self.display_url}, operation={self.operation!r}, "
            f"request_id={self.request_id!r}, attempt={self.attempt}, "
            f"headers={redact_headers(self.headers)!r})"
        )

    def __str__(self) -> str:
        return self.__repr__()


_PATHS: dict[str, str] = {}
"""The path of each URL seen: the logs ask for it on every call, of a few URLs."""
_MAX_PATHS = 256


def _path_of(url: str) -> str:
    scheme_end = url.find("://")
    slash = url.find("/", scheme_end + 3 if scheme_end >= 0 else 0)
    return remember(_PATHS, url, url[slash:] if slash >= 0 else "/", _MAX_PATHS)


class Response(NamedTuple):
    """A successful (2xx) answer, decoded.

    Immutable (a named tuple, like :class:`Request`: a frozen dataclass cost more to
    build than any stage's own work, once or twice per call); a copy with a change is
    ``response._replace(cache="hit")``.

    Attributes:
        request: the request this answers (the last attempt's).
        status: the HTTP status.
        headers: the answer's headers (immutable, case-insensitive).
        body: the raw body, kept so that a shared answer can be decoded afresh for
            each caller that receives it.
        data: the body as decoded by the spec.
        attempts: how many attempts the call took (set by the retry stage).
        cache: the cache outcome, if a cache stage saw the call: ``"hit"``, ``"miss"``,
            ``"stale"`` or ``"coalesced"``.
        elapsed_ms: how long the attempt that produced it took, in milliseconds.
    """

    request: Request
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    data: Any
    attempts: int = 1
    cache: str | None = None
    elapsed_ms: float = 0.0

    @property
    def request_id(self) -> str:
        """The server's ``X-Request-ID``, or the one the client sent."""
        return self.headers.get("X-Request-ID") or self.request.request_id

    def decoded_copy(self) -> Response:
        """A copy whose ``data`` is decoded anew from ``body``: for handing one answer to
        several callers without letting one caller's mutation reach the others."""
        return self._replace(data=self.request.spec.decode(self.body))

    def __repr__(self) -> str:
        return (
            f"Response({self.status}, operation={self.request.operation!r}, "
            f"request_id={self.request_id!r}, attempts={self.attempts}, cache={self.cache!r})"
        )
