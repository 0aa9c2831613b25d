"""Structlog processors: secret redaction, and the hand-over to standard ``logging``."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from geobox_usage._redact import REDACTED, is_sensitive, redact_pairs

__all__ = ["redact_event", "redact_query", "redact_text", "render_for_stdlib"]

_BEARER = re.compile(r"(?i)\bbearer\s+(?!\*\*\*)[^\s\"',;}\]]+")
# name, then "=", or ": " / quoted JSON-style "name": "..." (a bare "kind:fingerprint"
# such as an identity is not a secret and is left alone).
_ASSIGNED = re.compile(
    r"(?i)(?<![A-Za-z0-9_-])"
    r"(authorization|proxy-authorization|apikey|api_key|access_token|refresh_token"
    r"|password|token|key|secret|cookie)"
    r"(\s*=\s*|:\s+|[\"']\s*:\s*[\"']?)"
    r"(?!\*\*\*|Bearer \*\*\*)([^\s&\"',;}\]]+)"
)

# ``eid`` is a user id (digits) or an API key (anything else): the latter is a secret.
_EID = re.compile(r"(?<![A-Za-z0-9_])(eid=)(?!\d+(?:[&\s\"',;}\]]|$))(?!\*\*\*)([^\s&\"',;}\]]+)")


def redact_text(text: str) -> str:
    """``text`` with bearer tokens and ``name=value`` secrets replaced by ``***``.

    ``eid=`` values that are not a numeric user id are API keys and are redacted too.
    """
    if "=" not in text and ":" not in text and "earer" not in text:
        return text
    text = _BEARER.sub("Bearer " + REDACTED, text)
    text = _EID.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _ASSIGNED.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


redact_query = redact_pairs
"""Query pairs safe to log: secrets by name, and an ``eid`` that is an API key."""


def _redact_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth >= 4:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and is_sensitive(k) else _redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        # A plain list or tuple comes back as one; a subclass (a named tuple such as
        # ``Request`` or ``Response``, whose constructor takes fields, not an iterable)
        # as the plain kind it is made of.
        kind = list if isinstance(value, list) else tuple
        if all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in value):
            return kind(
                (k, REDACTED if is_sensitive(k) else _redact_value(v, depth + 1)) for k, v in value
            )
        return kind(_redact_value(v, depth + 1) for v in value)
    return value


def redact_event(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """A structlog processor that removes secrets from an event, wherever they are.

    Keys named like secrets (``authorization``, ``apikey``, ``access_token``,
    ``password``, ``token``, ``key``, ...) get ``***``; string values are scanned for
    ``Bearer <token>`` and ``name=value`` secrets; mappings and sequences of pairs are
    searched a few levels deep. The library runs it on its own events; an application
    may add it to its own chain::

        structlog.configure(processors=[..., geobox_usage.logs.redact_event, ...])
    """
    for name, value in event_dict.items():
        if is_sensitive(name):
            event_dict[name] = REDACTED
        elif value is not None and not isinstance(value, int | float | bool):
            event_dict[name] = _redact_value(value)
    return event_dict


_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_OWN_EXTRAS = frozenset({"geobox", "geobox_event"})


def render_for_stdlib(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The last processor of the library's own chain: an event as a stdlib log call.

    The message reads ``event key=value ...`` for plain formatters; the data travel as
    attributes of the ``LogRecord`` (``record.operation``, ``record.status``, ...; a
    name that ``LogRecord`` already uses, or ``geobox`` or ``geobox_event``, gets a
    ``geobox_`` prefix), with the event's name in ``record.geobox_event`` and the
    whole dict in ``record.geobox``, so
    structured handlers (JSON formatters, structlog's ``ProcessorFormatter`` with
    ``ExtraAdder``) see every field.
    """
    event = str(event_dict.pop("event", ""))
    data = dict(event_dict)
    extra: dict[str, Any] = {"geobox_event": event, "geobox": data}
    for name, value in data.items():
        extra[f"geobox_{name}" if name in _RESERVED or name in _OWN_EXTRAS else name] = value
    text = " ".join(f"{k}={v}" for k, v in data.items() if v is not None)
    return {"msg": f"{event} {text}" if text else event, "extra": extra}
