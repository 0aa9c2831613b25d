"""``AsyncUsage``: the four usage operations, signature for signature with the official SDK.

It only validates arguments and builds parameters; the client's pipeline does the rest.
Every check runs before any request is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from geobox_usage import specs
from geobox_usage._redact import Pairs
from geobox_usage._secret import Secret
from geobox_usage._validation import (
    check_date_range,
    check_enum,
    check_id,
    check_optional_id,
    check_optional_positive_int,
    format_date,
)
from geobox_usage.enums import UsageParam, UsageScale
from geobox_usage.resources import AsyncApiKey, AsyncUser

if TYPE_CHECKING:
    from geobox_usage.client import AsyncGeoboxClient

__all__ = ["AsyncUsage"]

Params = tuple[tuple[str, str], ...]


class AsyncUsage:
    """Usage reports of a user or an API key.

    Example::

        async with AsyncGeoboxClient() as client:
            user = await client.get_user()
            usage = await AsyncUsage.get_api_usage(
                client, resource=user, scale=UsageScale.Day,
                param=UsageParam.Calls, days_before_now=5,
            )
    """

    BASE_ENDPOINT = "usage/"

    def __init__(self, api: AsyncGeoboxClient, user: AsyncUser) -> None:
        """Bind the usage reports to ``user``, fetched with ``api``."""
        self.api = api
        self.user = user

    def __repr__(self) -> str:
        return f"AsyncUsage(user={self.user!r})"

    @classmethod
    async def get_api_usage(
        cls,
        api: AsyncGeoboxClient,
        resource: AsyncUser | AsyncApiKey,
        scale: UsageScale,
        param: UsageParam,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        days_before_now: int | None = None,
        limit: int | None = None,
    ) -> list[Any]:
        """Get the API usage (calls or traffic over time) of a user or an API key.

        Args:
            api: the client to send the request with.
            resource: the user or API key the report is about.
            scale: the size of one point (``UsageScale`` or ``"hour"``/``"day"``/``"month"``).
            param: what to measure (``UsageParam`` or ``"traffic"``/``"calls"``).
            from_date: start of the period (timezone-aware values are converted to UTC).
            to_date: end of the period.
            days_before_now: the period as a number of days back from now.
            limit: the most points to return. The server's default is 10, which cuts a
                longer period short (14 days at ``UsageScale.Day`` need ``limit=15``);
                pass one point per bucket of the period, plus one.

        Returns:
            The JSON the server sent, unchanged: ``[time, value]`` pairs, oldest first,
            only for buckets with data, e.g. ``[["2025-07-07T00:00:00", 21], ...]``
            (calls as integers, traffic in bytes). :func:`geobox_usage.usage_points`
            turns them into ``(datetime, value)`` pairs.

        Raises:
            ValueError: neither ``days_before_now`` nor both dates given; a resource that
                is not an ``AsyncUser`` or ``AsyncApiKey``; any other invalid argument.
            GeoboxError: the call failed (see :mod:`geobox_usage.errors`).
        """
        eid: str | Secret
        if isinstance(resource, AsyncUser):
            eid, target = str(resource.user_id), str(resource.user_id)
        elif isinstance(resource, AsyncApiKey):
            eid, target = _key_of(resource), f"apikey:{resource.key_id}"
        else:
            raise ValueError(
                "resource must be a 'user' or 'apikey' object (an AsyncUser or AsyncApiKey), "
                f"got {type(resource).__name__}"
            )
        scale_member = check_enum(UsageScale, "scale", scale)
        param_member = check_enum(UsageParam, "param", param)
        period = period_params(from_date, to_date, days_before_now)
        checked_limit = check_optional_positive_int("limit", limit)
        params: Pairs = (
            ("eid", eid),
            ("scale", scale_member.value),
            ("param", param_member.value),
            *period,
        )
        if checked_limit is not None:
            params = (*params, ("limit", str(checked_limit)))
        return await api.execute(specs.API_USAGE, params=params, target=target)

    @classmethod
    async def get_process_usage(
        cls,
        api: AsyncGeoboxClient,
        user_id: int | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        days_before_now: int | None = None,
    ) -> float:
        """Get the seconds of processing a user consumed in a period.

        Args:
            api: the client to send the request with.
            user_id: the user; ``None`` for the current user.
            from_date: start of the period (timezone-aware values are converted to UTC).
            to_date: end of the period.
            days_before_now: the period as a number of days back from now.

        Returns:
            Seconds of processing: the JSON number the server sent, unchanged.

        Raises:
            ValueError: neither ``days_before_now`` nor both dates given, or another
                invalid argument.
            GeoboxError: the call failed.
        """
        user_params, target = user_scope(user_id)
        period = period_params(from_date, to_date, days_before_now)
        return await api.execute(specs.PROCESS_USAGE, params=(*user_params, *period), target=target)

    @classmethod
    async def get_usage_summary(
        cls, api: AsyncGeoboxClient, user_id: int | None = None
    ) -> dict[str, Any]:
        """Get a user's usage against their limits.

        Args:
            api: the client to send the request with.
            user_id: the user; ``None`` for the current user.

        Returns:
            The JSON the server sent, unchanged: one flat object of counters and limits
            (``daily_api_calls`` against ``max_daily_api_calls``, ``monthly_traffic``
            against ``max_monthly_traffic``, ``used_storage``, ``remaining_days``, ...);
            :class:`geobox_usage.UsageSummary` names its fields for type checkers.
        """
        params, target = user_scope(user_id)
        return await api.execute(specs.USAGE_SUMMARY, params=params, target=target)

    @classmethod
    async def update_usage(
        cls, api: AsyncGeoboxClient, user_id: int | None = None
    ) -> dict[str, Any]:
        """Recompute a user's usage. Not idempotent: it is never sent twice by accident.

        Args:
            api: the client to send the request with.
            user_id: the user; ``None`` for the current user.

        Returns:
            The recomputed summary, as the server sent it (the shape of
            :meth:`get_usage_summary`'s answer).
        """
        checked = check_optional_id("user_id", user_id)
        body: dict[str, int] = {} if checked is None else {"user_id": checked}
        target = "me" if checked is None else str(checked)
        return await api.execute(specs.UPDATE_USAGE, json=body, target=target)


def _key_of(resource: AsyncApiKey) -> Secret:
    """The key string of ``resource`` (``data["key"]``), as a secret."""
    key = resource.data.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError(
            f"the API key {resource.key_id!r} has no key string in its data (data['key']); "
            "get it with client.get_apikey(key_id), or build AsyncApiKey(api, key_id, "
            "{'key': ...})"
        )
    return Secret(key)


def user_scope(user_id: object) -> tuple[Params, str]:
    """The query parameters and cache target of a call about ``user_id`` (checked)."""
    if user_id is None:
        return (), "me"
    if type(user_id) is int and user_id > 0:  # the usual case, checked without a call
        text = str(user_id)
        return (("user_id", text),), text
    text = str(check_id("user_id", user_id))
    return (("user_id", text),), text


def period_params(from_date: object, to_date: object, days_before_now: object) -> Params:
    """The query parameters of a period (checked): both dates, or days before now."""
    start, end, days = check_date_range(from_date, to_date, days_before_now)
    params: Params = ()
    if start is not None and end is not None:
        params = (("from_date", format_date(start)), ("to_date", format_date(end)))
    if days is not None:
        params = (*params, ("days_before_now", str(days)))
    return params
