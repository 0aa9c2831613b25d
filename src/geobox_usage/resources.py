"""The objects the usage reports are about: a user and an API key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geobox_usage.client import AsyncGeoboxClient

__all__ = ["AsyncApiKey", "AsyncUser"]


class _Resource:
    """Server data exposed as attributes (``user.username``), kept whole in ``.data``."""

    __slots__ = ("_data", "api")

    def __init__(self, api: AsyncGeoboxClient, data: Mapping[str, Any]) -> None:
        self.api = api
        self._data = dict(data)

    @property
    def data(self) -> dict[str, Any]:
        """A copy of every field the server sent, extra ones included."""
        return dict(self._data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}; fields: {sorted(self._data)}"
            ) from None


class AsyncUser(_Resource):
    """A Geobox user.

    Attributes:
        user_id: the user's numeric id.
        api: the client it was fetched with.
    """

    __slots__ = ("user_id",)

    def __init__(self, api: AsyncGeoboxClient, user_id: int, data: Mapping[str, Any]) -> None:
        super().__init__(api, data)
        self.user_id = user_id

    def __repr__(self) -> str:
        return f"AsyncUser(user_id={self.user_id!r}, username={self._data.get('username')!r})"


class AsyncApiKey(_Resource):
    """A Geobox API key. Its ``key`` is a secret: the repr never shows it.

    Attributes:
        key_id: the key's numeric id.
        key: the key string itself (used as ``eid`` in API usage reports).
        api: the client it was fetched with.
    """

    __slots__ = ("key", "key_id")

    def __init__(
        self, api: AsyncGeoboxClient, key_id: int, key: str, data: Mapping[str, Any]
    ) -> None:
        super().__init__(api, data)
        self.key_id = key_id
        self.key = key

    def __repr__(self) -> str:
        return f"AsyncApiKey(key_id={self.key_id!r}, name={self._data.get('name')!r}, key=***)"
