"""``Secret``: a token, an API key or a password that never shows itself.

From the constructor to the wire, every secret the client holds lives in a
:class:`Secret`, whose ``repr`` and ``str`` are masked. No local variable, log
processor, error message or traceback-with-locals (structlog's ``dict_tracebacks``,
rich's tracebacks) can then show the bare string: it is revealed only by the transport,
inside the call that writes the request.
"""

from __future__ import annotations

import hmac
from typing import Any, Final, final

__all__ = ["MASK", "Secret", "reveal"]

MASK: Final = "***"


@final
class Secret:
    """A secret string whose ``repr`` and ``str`` are ``***``.

    Args:
        value: the secret; another :class:`Secret` is unwrapped.

    Raises:
        ValueError: ``value`` is not a string (the message never shows it).
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value._value
        if not isinstance(value, str):
            raise ValueError(f"a secret must be a string, got {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The bare secret: call it only where it is written to the wire."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Secret is not pickled: it would write the secret out")


def reveal(value: str | Secret) -> str:
    """``value`` as the string to put on the wire (a plain string is returned as is)."""
    return value.reveal() if isinstance(value, Secret) else value
