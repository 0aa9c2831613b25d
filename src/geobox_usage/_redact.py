"""Keeping secrets out of everything a user can see: messages, reprs, URLs and logs.

Redaction happens at the source (errors and reprs are built from redacted values)
and again as a structlog processor, so a value that slips past one layer is caught
by the other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from geobox_usage._memo import remember
from geobox_usage._secret import MASK, Secret

__all__ = [
    "REDACTED",
    "SENSITIVE_KEYS",
    "Pairs",
    "is_sensitive",
    "redact_headers",
    "redact_pairs",
    "redacted_query",
    "redacted_url",
    "scrub",
]

REDACTED = MASK

Pairs = tuple[tuple[str, str | Secret], ...]
"""Query parameters or headers as the pipeline carries them: secret values as
:class:`~geobox_usage.Secret`, revealed only by the transport."""

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


def _shown(name: str, value: str | Secret) -> str:
    if isinstance(value, Secret) or is_sensitive(name) or (name == "eid" and not value.isdigit()):
        return REDACTED
    return value


def redact_pairs(pairs: Iterable[tuple[str, str | Secret]]) -> tuple[tuple[str, str], ...]:
    """Return ``pairs`` with secret values replaced by ``***``: every
    :class:`~geobox_usage.Secret`, and the values of sensitive names.

    ``eid`` names a user by numeric id or an API key by the key itself (the wire
    contract's choice), so an ``eid`` that is not all digits is a secret too.
    """
    return tuple((k, _shown(k, v)) for k, v in pairs)


def redact_headers(headers: Iterable[tuple[str, str | Secret]]) -> dict[str, str]:
    """Return headers as a dict, the values of sensitive ones replaced by ``***``."""
    return dict(redact_pairs(headers))


def scrub(text: str, secrets: Iterable[Secret]) -> str:
    """``text`` with every occurrence of each secret (as is, and URL-quoted as a query or
    a path would carry it) replaced by ``***``: for text that a library built from a
    request, such as an aiohttp error that quotes the URL."""
    for secret in secrets:
        bare = secret.reveal()
        for form in {bare, quote_plus(bare), quote(bare, safe="")} - {""}:
            text = text.replace(form, REDACTED)
    return text


def redacted_url(url: str, params: Iterable[tuple[str, str | Secret]] = ()) -> str:
    """Return ``url`` with ``params`` appended as a query string, secrets redacted."""
    query = redacted_query(params)
    return f"{url}?{query}" if query else url


# What ``urlencode(..., safe=":*")`` leaves as it is: no quoting needed.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~:*-]*")

_NAMES: dict[str, str] = {}
"""Each parameter name seen, as the query writes it (the operations use a handful)."""
_MAX_NAMES = 256


def _name(name: str) -> str:
    """``name`` as the query writes it; remembered."""
    encoded = name if _UNQUOTED.fullmatch(name) else quote_plus(name, safe=":*")
    return remember(_NAMES, name, encoded, _MAX_NAMES)


def redacted_query(params: Iterable[tuple[str, str | Secret]]) -> str:
    """``params`` as a query string (``urlencode(..., safe=":*")``), secrets redacted.

    Written without ``urlencode``, for the ``geobox.call`` line of every call: a name's
    form is remembered, and a value of ASCII letters and digits (an id, a scale) is
    written as it is.
    """
    parts = []
    for name, value in params:
        shown = _shown(name, value)  # the one redaction rule, as ``redact_pairs`` applies it
        if not (shown.isalnum() and shown.isascii()) and not _UNQUOTED.fullmatch(shown):
            shown = quote_plus(shown, safe=":*")
        parts.append(f"{_NAMES.get(name) or _name(name)}={shown}")
    return "&".join(parts)
