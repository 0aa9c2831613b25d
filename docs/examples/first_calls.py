"""The four usage operations, with the user they are about, as the official SDK makes them."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

from geobox_usage import AsyncGeoboxClient, AsyncUsage, UsageParam, UsageScale, usage_points

# The API host; the docs' tests point it at the simulated server. Credentials come from
# GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY or GEOBOX_USERNAME and GEOBOX_PASSWORD.
HOST = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")


async def main() -> None:
    async with AsyncGeoboxClient(HOST) as client:
        user = await client.get_user()  # GET users/me/?f=json
        points = await AsyncUsage.get_api_usage(
            client,
            resource=user,
            scale=UsageScale.Day,
            param=UsageParam.Calls,
            days_before_now=14,
            limit=15,  # one point per day and today: the server's default of 10 would cut it
        )
        print(points)  # [["2026-11-14T00:00:00", 4258], ...] as the server sent it
        print(usage_points(points)[:2])  # [(datetime(2026, 11, 14, 0, 0), 4258), ...]
        seconds = await client.get_process_usage(
            from_date=datetime(2026, 11, 1, tzinfo=UTC),  # aware: sent in UTC
            to_date=datetime(2026, 11, 25, tzinfo=UTC),
        )
        print(seconds)  # a bare number of seconds
        print(await client.get_usage_summary())  # {"daily_api_calls": 79, ...}
        print(await client.update_usage())  # the recomputed summary


if __name__ == "__main__":
    asyncio.run(main())
