"""The operations this client performs, each declared once as a :class:`RequestSpec`."""

from __future__ import annotations

from typing import Any

from geobox_usage._spec import (
    CachePolicy,
    DecodeProblem,
    RequestSpec,
    decode_json,
    decode_object,
)

__all__ = [
    "ALL_SPECS",
    "API_USAGE",
    "APIKEY",
    "CURRENT_USER",
    "PROCESS_USAGE",
    "UPDATE_USAGE",
    "USAGE_SUMMARY",
    "USER",
]

_CACHEABLE = CachePolicy(store=True)


def _decode_with_id(body: bytes, what: str) -> dict[str, Any]:
    value = decode_object(body)
    if isinstance(value.get("id"), bool) or not isinstance(value.get("id"), int):
        raise DecodeProblem(f"expected {what} with an integer 'id', got keys {sorted(value)}")
    return value


def _decode_user(body: bytes) -> dict[str, Any]:
    return _decode_with_id(body, "a user object")


def _decode_apikey(body: bytes) -> dict[str, Any]:
    key = _decode_with_id(body, "an API key object")
    if not isinstance(key.get("key"), str):
        raise DecodeProblem("expected an API key object with a string 'key'")
    return key


CURRENT_USER: RequestSpec[dict[str, Any]] = RequestSpec(
    name="get_user", method="GET", path="users/me/", idempotent=True,
    decode=_decode_user, cache=_CACHEABLE,
)  # fmt: skip
"""``GET users/me/?f=json``: the user the credential belongs to."""

USER: RequestSpec[dict[str, Any]] = RequestSpec(
    name="get_user", method="GET", path="users/{user_id}/", idempotent=True,
    decode=_decode_user, cache=_CACHEABLE,
)  # fmt: skip
"""``GET users/{id}/?f=json``: a user by id."""

APIKEY: RequestSpec[dict[str, Any]] = RequestSpec(
    name="get_apikey", method="GET", path="apikeys/{key_id}/", idempotent=True,
    decode=_decode_apikey, cache=_CACHEABLE,
)  # fmt: skip
"""``GET apikeys/{id}/?f=json``: an API key by id."""

API_USAGE: RequestSpec[list[Any]] = RequestSpec(
    name="get_api_usage", method="GET", path="usage/api", idempotent=True,
    decode=decode_json, cache=_CACHEABLE,
)  # fmt: skip
"""``GET usage/api``: calls or traffic over time, a list of ``[time, value]`` pairs.
Whatever JSON the server sends is returned unchanged."""

PROCESS_USAGE: RequestSpec[float] = RequestSpec(
    name="get_process_usage", method="GET", path="usage/process", idempotent=True,
    decode=decode_json, cache=_CACHEABLE,
)  # fmt: skip
"""``GET usage/process``: seconds of processing, a bare JSON number, returned unchanged."""

USAGE_SUMMARY: RequestSpec[dict[str, Any]] = RequestSpec(
    name="get_usage_summary", method="GET", path="usage/summary", idempotent=True,
    decode=decode_json, cache=_CACHEABLE,
)  # fmt: skip
"""``GET usage/summary``: usage against limits, one flat object, returned unchanged."""

UPDATE_USAGE: RequestSpec[dict[str, Any]] = RequestSpec(
    name="update_usage", method="POST", path="usage/update", idempotent=False,
    decode=decode_json,
    cache=CachePolicy.no_store(
        invalidates=frozenset({API_USAGE.name, PROCESS_USAGE.name, USAGE_SUMMARY.name})
    ),
)  # fmt: skip
"""``POST usage/update``: recomputes a user's usage. Not idempotent: every call does
work on the server, so it is never repeated once it may have reached it."""

ALL_SPECS: tuple[RequestSpec[Any], ...] = (
    CURRENT_USER, USER, APIKEY, API_USAGE, PROCESS_USAGE, USAGE_SUMMARY, UPDATE_USAGE,
)  # fmt: skip
