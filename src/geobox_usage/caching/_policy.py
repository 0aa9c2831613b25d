"""The cache's decisions as pure functions: storable, fresh, stale-servable, and the key.

Modelled on RFC 9111 (and on hishel, which keeps these rules apart from storage) and
cut down to what a private client cache of JSON answers needs:

* an answer is stored only for an idempotent operation whose :class:`CachePolicy`
  allows it, only for a 2xx status, and never when the server says ``no-store`` (or
  ``no-cache``, which would need revalidation this cache does not do);
* it stays fresh for the server's ``max-age`` when given (even a longer one), else the
  operation's own ttl, else the configured ttl;
* after it expires it may still be served for ``stale_if_error`` seconds, but only when
  the server fails (5xx, a transport error or timeout, an open circuit), and never when
  the server said ``must-revalidate``.

Nothing here reads a clock: every function takes ``now``, so tests drive time freely.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlencode

from geobox_usage._redact import redact_pairs
from geobox_usage._secret import Secret, reveal
from geobox_usage._spec import RequestSpec
from geobox_usage.errors import (
    CircuitOpenError,
    GeoboxTimeoutError,
    ServerError,
    TransportError,
)

__all__ = [
    "CacheControl",
    "CacheEntry",
    "Lookup",
    "cache_key",
    "classify",
    "freshness_lifetime",
    "is_cacheable_spec",
    "is_server_failure",
    "make_entry",
    "parse_cache_control",
    "stale_window",
]

Pairs = tuple[tuple[str, str], ...]

#: Query parameters left out of keys: the credential's identity already covers them,
#: and a secret must never become part of a key a backend may store or log.
KEY_EXCLUDED_PARAMS: frozenset[str] = frozenset({"apikey"})


@dataclass(frozen=True, slots=True)
class CacheControl:
    """The ``Cache-Control`` directives this cache obeys.

    Attributes:
        no_store: the answer must not be stored.
        no_cache: the answer must be revalidated before reuse (treated as not storable).
        must_revalidate: once stale, the answer must not be served (not even on error).
        max_age: seconds the answer is fresh, if the server said.
    """

    no_store: bool = False
    no_cache: bool = False
    must_revalidate: bool = False
    max_age: float | None = None


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A stored answer: what a backend keeps. Plain data, so any store can hold it.

    Times are wall-clock seconds (``Clock.time()``), so that a store shared by several
    processes means the same thing to all of them.

    Attributes:
        status: the answer's HTTP status.
        headers: the answer's headers as ``(name, value)`` pairs.
        body: the raw body; each reader decodes it afresh, so no two callers share data.
        stored_at: when the entry was stored.
        expires_at: when it stops being fresh.
        stale_until: until when it may be served if the server fails (``>= expires_at``).
    """

    status: int
    headers: Pairs
    body: bytes
    stored_at: float
    expires_at: float
    stale_until: float

    def __repr__(self) -> str:
        return (
            f"CacheEntry(status={self.status}, bytes={len(self.body)}, "
            f"stored_at={self.stored_at:.3f}, expires_at={self.expires_at:.3f}, "
            f"stale_until={self.stale_until:.3f})"
        )


class Lookup(Enum):
    """What a found entry is good for at a given moment."""

    FRESH = "fresh"
    """Serve it without asking the server."""
    STALE = "stale"
    """Ask the server; serve the entry only if the server fails."""
    EXPIRED = "expired"
    """Useless: ask the server."""


def parse_cache_control(value: str | None) -> CacheControl:
    """Read the directives this cache obeys from a ``Cache-Control`` header value.

    Unknown directives are ignored; a malformed ``max-age`` is ignored (as if absent)
    and a negative one counts as ``0``.
    """
    if not value:
        return CacheControl()
    no_store = no_cache = must_revalidate = False
    max_age: float | None = None
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        name = name.strip().lower()
        if name == "no-store":
            no_store = True
        elif name == "no-cache":
            no_cache = True
        elif name in ("must-revalidate", "proxy-revalidate"):
            must_revalidate = True
        elif name == "max-age":
            try:
                seconds = float(argument.strip().strip('"'))
            except ValueError:
                continue
            if seconds == seconds and seconds != float("inf"):
                max_age = max(0.0, seconds)
    return CacheControl(no_store, no_cache, must_revalidate, max_age)


def is_cacheable_spec(spec: RequestSpec[object]) -> bool:
    """Whether an operation's answers may ever be stored (idempotent and policy says so)."""
    return spec.idempotent and spec.cache.store


def freshness_lifetime(control: CacheControl, spec_ttl: float | None, default_ttl: float) -> float:
    """Seconds an answer stays fresh: the server's ``max-age``, else the spec's, else ours."""
    if control.max_age is not None:
        return control.max_age
    if spec_ttl is not None:
        return max(0.0, spec_ttl)
    return default_ttl


def stale_window(control: CacheControl, stale_if_error: float) -> float:
    """Seconds past expiry an answer may be served when the server fails."""
    if control.must_revalidate or control.no_cache or control.no_store:
        return 0.0
    return max(0.0, stale_if_error)


def make_entry(
    *,
    status: int,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    spec_ttl: float | None,
    default_ttl: float,
    stale_if_error: float,
    now: float,
) -> CacheEntry | None:
    """The entry to store for an answer, or ``None`` when it must not be stored.

    Args:
        status: the answer's status (only 2xx is stored).
        headers: the answer's headers; ``Cache-Control`` is read from them.
        body: the raw body.
        spec_ttl: the operation's own ttl (``CachePolicy.ttl``), if any.
        default_ttl: the configured ttl (``CacheConfig.ttl``).
        stale_if_error: the configured stale-if-error window.
        now: the current wall-clock time.
    """
    if not 200 <= status < 300:
        return None
    pairs = tuple(headers)
    control = parse_cache_control(
        ", ".join(v for k, v in pairs if k.lower() == "cache-control") or None
    )
    if control.no_store or control.no_cache:
        return None
    lifetime = freshness_lifetime(control, spec_ttl, default_ttl)
    if lifetime <= 0:
        return None
    expires_at = now + lifetime
    return CacheEntry(
        status=status,
        headers=pairs,
        body=body,
        stored_at=now,
        expires_at=expires_at,
        stale_until=expires_at + stale_window(control, stale_if_error),
    )


def classify(entry: CacheEntry, now: float) -> Lookup:
    """Whether ``entry`` is fresh, servable only on error, or useless at ``now``."""
    if now < entry.expires_at:
        return Lookup.FRESH
    if now < entry.stale_until:
        return Lookup.STALE
    return Lookup.EXPIRED


def is_server_failure(error: BaseException) -> bool:
    """Whether a failure is the server's (so a stale answer may stand in for it).

    5xx answers, transport errors, timeouts and an open circuit qualify. A 4xx does
    not: a 401 or 403 means the caller may no longer see the data, and a 429 is the
    server asking for patience, not failing.
    """
    return isinstance(error, ServerError | TransportError | GeoboxTimeoutError | CircuitOpenError)


def cache_key(
    *, identity: str, method: str, url: str, params: Iterable[tuple[str, str | Secret]]
) -> str:
    """The key of a call: credential identity, method, absolute URL and sorted query.

    The URL holds the base URL and the path, so two servers never share an entry;
    ``apikey`` is left out of the query (the identity names the credential), and an API
    key given as ``eid`` is replaced by a digest: a key never holds a secret.
    """
    pairs = sorted(
        ((k, v) for k, v in params if k not in KEY_EXCLUDED_PARAMS),
        key=lambda pair: (pair[0], reveal(pair[1])),
    )
    shown = redact_pairs(pairs)
    query = urlencode(shown, safe=":*")
    if list(shown) != pairs:
        # A secret value (an API key given as ``eid``) is shown as ``***`` and told
        # apart from other secrets by a digest, so the key stays unique but never
        # holds the secret itself.
        query += "&digest=" + _digest(pairs)
    return f"{identity} {method} {url}?{query}"


def _digest(pairs: Iterable[tuple[str, str | Secret]]) -> str:
    """A digest of query pairs, secrets included, that reveals none of them."""
    return hashlib.sha256(urlencode([(k, reveal(v)) for k, v in pairs]).encode()).hexdigest()[:32]
