"""Keeping secrets out of everything a user can see: messages, reprs, URLs and logs.

Redaction happens at the source (errors and reprs are built from redacted values)
and again as a structlog processor, so a value that slips past one layer is caught
by the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

__all__ = [
    "REDACTED",
    "SENSITIVE_KEYS",
    "is_sensitive",
    "redact_headers",
    "redact_pairs",
    "redacted_url",
]

REDACTED = "***"

#: Names (compared case-insensitively) whose values are secrets wherever they appear:
#: headers, query parameters, form fields, log keys.
SENSITIVE_KEYS: frozenset[str] = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "apikey",
        "api_key",
        "access_token",
        "refresh_token",
        "password",
        "token",
        "key",
        "secret",
        "cookie",
        "set-cookie",
    }
)


def is_sensitive(name: str) -> bool:
    """Whether a header, parameter or log key named ``name`` holds a secret."""
    return name.lower() in SENSITIVE_KEYS


def redact_pairs(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Return ``pairs`` with the values of sensitive names replaced by ``***``.

    ``eid`` names a user by numeric id or an API key by the key itself (the wire
    contract's choice), so an ``eid`` that is not all digits is a secret too.
    """
    return tuple(
        (k, REDACTED if is_sensitive(k) or (k == "eid" and not v.isdigit()) else v)
        for k, v in pairs
    )


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return headers as a dict, the values of sensitive ones replaced by ``***``."""
    return dict(redact_pairs(headers))


def redacted_url(url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """Return ``url`` with ``params`` appended as a query string, secrets redacted."""
    pairs = redact_pairs(params)
    if not pairs:
        return url
    return f"{url}?{urlencode(pairs, safe=':*')}"
