"""The objects the usage reports are about: a user and an API key.

They are built as the official SDK builds them, ``AsyncUser(api, user_id, data={})``
and ``AsyncApiKey(api, key_id, data={})``, so code that constructs them by hand keeps
working; the server's fields are attributes, as there (``user.username``, ``key.key``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geobox_usage.client import AsyncGeoboxClient

__all__ = ["AsyncApiKey", "AsyncUser"]

# The official resources read these forms of a string field as a datetime.
_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S")


class _Resource:
    """Server data exposed as attributes (``user.username``), kept whole in ``.data``.

    As in the official SDK, a string field in one of its datetime forms reads as a
    ``datetime`` (``.data`` keeps the string the server sent).
    """

    __slots__ = ("api", "data")

    def __init__(self, api: AsyncGeoboxClient, data: Mapping[str, Any] | None) -> None:
        self.api = api
        self.data: dict[str, Any] = dict(data or {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            value = self.data[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}; fields: {sorted(self.data)}"
            ) from None
        return _datetime_or_value(value)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.data})


def _datetime_or_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    for form in _DATETIME_FORMATS:
        try:
            return datetime.strptime(value, form)
        except ValueError:
            continue
    return value


class AsyncUser(_Resource):
    """A Geobox user.

    Args:
        api: the client it was fetched with (or is to be used with).
        user_id: the user's id.
        data: the user object the server sent (``{}`` when built by hand).

    Attributes:
        user_id: the user's id, as given.
    """

    __slots__ = ("user_id",)

    def __init__(
        self, api: AsyncGeoboxClient, user_id: int, data: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(api, data)
        self.user_id = user_id

    def __repr__(self) -> str:
        return f"AsyncUser(user_id={self.user_id!r}, username={self.data.get('username')!r})"


class AsyncApiKey(_Resource):
    """A Geobox API key. Its ``key`` (read from ``data["key"]``) is a secret: the repr
    never shows it.

    Args:
        api: the client it was fetched with (or is to be used with).
        key_id: the key's id.
        data: the API key object the server sent; its ``"key"`` is the key string,
            which API usage reports send as ``eid``.

    Attributes:
        key_id: the key's id, as given.
    """

    __slots__ = ("key_id",)

    def __init__(
        self, api: AsyncGeoboxClient, key_id: int, data: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(api, data)
        self.key_id = key_id

    def __repr__(self) -> str:
        return f"AsyncApiKey(key_id={self.key_id!r}, name={self.data.get('name')!r}, key=***)"
