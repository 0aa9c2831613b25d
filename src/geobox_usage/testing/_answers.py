"""The simulator's answers: what goes on the wire, for normal work, errors and faults.

Handlers produce an :class:`Answer` (status, body, content type, headers) or raise an
:class:`HTTPError`, which becomes a FastAPI-shaped ``{"detail": ...}`` answer. A
:class:`~._faults.Fault` turns into an answer here too: :func:`status_answer` for a
refusal or a failed status, :func:`damage` for what happens to an answer the work
already produced (late, lost, cut short, not JSON). Keeping the wire shapes in one
place means the server's pipeline decides *when* each applies and this module decides
*what* it looks like.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ._faults import Fault, FaultKind

__all__ = [
    "Answer",
    "HTTPError",
    "damage",
    "json_answer",
    "status_answer",
    "unauthorized",
]


class HTTPError(Exception):
    """An error answer, raised by handlers and turned into a FastAPI-shaped body."""

    def __init__(
        self, status: int, detail: object, headers: Mapping[str, str] | None = None
    ) -> None:
        """Describe the error answer.

        Args:
            status: the HTTP status.
            detail: the value of the body's ``detail`` (a message or a list of errors).
            headers: extra headers of the answer.
        """
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def unauthorized(detail: str) -> HTTPError:
    """A ``401`` with ``WWW-Authenticate: Bearer``, as the real service sends it."""
    return HTTPError(401, detail, {"WWW-Authenticate": "Bearer"})


@dataclass(slots=True)
class Answer:
    """An answer about to be sent.

    Attributes:
        status: the HTTP status.
        body: the body, already encoded.
        content_type: the ``Content-Type``.
        headers: other headers of the answer.
        declared_length: a ``Content-Length`` larger than ``body``: the server sends
            ``body`` and then closes the connection, cutting the answer short.
    """

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    declared_length: int | None = None


def json_answer(status: int, value: object, headers: Mapping[str, str] | None = None) -> Answer:
    """An answer whose body is ``value`` as compact JSON."""
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return Answer(status, body, headers=dict(headers or {}))


def status_answer(fault: Fault) -> Answer:
    """The answer of a :meth:`Fault.status` fault: JSON ``detail`` or an nginx page."""
    code = fault.code if fault.code is not None else 500
    headers = dict(fault.headers)
    if fault.retry_after is not None:
        headers["Retry-After"] = _retry_after(fault.retry_after)
    if fault.html:
        return Answer(code, _html_page(code), "text/html", headers)
    default = "Too many requests" if code == 429 else _phrase(code)
    return json_answer(code, {"detail": fault.detail or default}, headers)


async def damage(fault: Fault, answer: Answer) -> Answer | None:
    """Apply a fault that comes after the work to the answer the work produced.

    Returns:
        The answer to send instead (the same one, late, for a delay), or ``None`` when
        the connection is to be closed without a word.
    """
    if fault.kind is FaultKind.STATUS:
        return status_answer(fault)
    if fault.kind is FaultKind.DELAY:
        await asyncio.sleep(fault.seconds)
        return answer
    if fault.kind is FaultKind.DROP:
        return None
    if fault.kind is FaultKind.TRUNCATE:
        cut = _truncate_json(answer.body)
        return Answer(200, cut, headers=answer.headers, declared_length=len(answer.body))
    if fault.kind is FaultKind.NOT_JSON:
        if fault.html:
            return Answer(200, _html_page(200), "text/html")
        return Answer(200, b"OK", "text/plain")
    raise AssertionError(f"unhandled fault {fault!r}")  # pragma: no cover


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _html_page(status: int) -> bytes:
    title = f"{status} {_phrase(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def _retry_after(value: float | datetime) -> str:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return email.utils.format_datetime(aware.astimezone(UTC), usegmt=True)
    return str(value)


def _truncate_json(body: bytes) -> bytes:
    """A prefix of ``body``, as close to half its length as possible, that is not JSON."""
    half = len(body) // 2
    for distance in range(len(body) + 1):
        for length in (half - distance, half + distance):
            if 0 <= length < len(body):
                cut = body[:length]
                try:
                    json.loads(cut)
                except ValueError:
                    return cut
    return b""
