"""Exit statuses that tell a script what went wrong, and the one line that tells a person."""

from __future__ import annotations

from enum import IntEnum

from geobox_usage.errors import (
    ApiRequestError,
    AuthenticationError,
    AuthorizationError,
    GeoboxError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    ValidationError,
)

__all__ = ["ExitCode", "exit_code_for"]


class ExitCode(IntEnum):
    """What ``geobox-usage`` exits with; scripts branch on these."""

    OK = 0
    """The command did what was asked."""
    FAILURE = 1
    """Any other failure (an error status the other codes do not name)."""
    USAGE = 2
    """Bad usage: a wrong option or argument, or parameters the server refused (400, 422)."""
    AUTH = 3
    """Authentication or permission: no credentials, wrong ones, or not allowed (401, 403)."""
    NOT_FOUND = 4
    """No such user or API key (404)."""
    RATE_LIMITED = 5
    """Rate limited (429), after the retries the client is allowed."""
    UNAVAILABLE = 6
    """The server failed (5xx) or could not be reached: refused, reset, timed out, circuit open,
    or an answer that could not be read."""


def exit_code_for(error: BaseException) -> ExitCode:
    """The exit status for a command that failed with ``error``."""
    if isinstance(error, ValidationError):
        return ExitCode.USAGE
    if isinstance(error, AuthenticationError | AuthorizationError):
        return ExitCode.AUTH
    if isinstance(error, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(error, RateLimitError):
        return ExitCode.RATE_LIMITED
    if isinstance(error, ServerError | ApiRequestError | ResponseDecodeError):
        return ExitCode.UNAVAILABLE
    if isinstance(error, GeoboxError):
        return ExitCode.FAILURE
    return ExitCode.USAGE  # a ValueError from argument checks: refused before any request
