"""Embed the client in an aiohttp web service.

One client for the service's lifetime, sharing the service's own ``aiohttp`` session
(its connection pool, never its defaults); each incoming request's id carried into the
Geobox calls it makes; everything closed, in order, when the service shuts down.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import geobox_usage
from geobox_usage import AsyncGeoboxClient, GeoboxError

# The API host; the docs' tests point it at the simulated server. Credentials come from
# GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY or GEOBOX_USERNAME and GEOBOX_PASSWORD.
HOST = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")
GEOBOX = web.AppKey("geobox", AsyncGeoboxClient)


async def geobox_client(app: web.Application) -> AsyncIterator[None]:
    """Open the service's session and the client on startup; close both on shutdown."""
    # The service's own session, shared; on shutdown the client is closed first (it never
    # closes a session it was given), then the session.
    async with (
        aiohttp.ClientSession() as session,
        AsyncGeoboxClient(HOST, session=session) as client,
    ):
        app[GEOBOX] = client
        yield


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Calls made while handling a request send its id as their ``X-Request-ID``."""
    with geobox_usage.request_id(request.headers.get("X-Request-ID") or uuid.uuid4().hex):
        return await handler(request)


async def usage_summary(request: web.Request) -> web.Response:
    try:
        summary = await request.app[GEOBOX].get_usage_summary()
    except GeoboxError as exc:  # typed, secret-free, after the client's retries
        raise web.HTTPBadGateway(text=exc.message) from None
    return web.json_response(summary)


def make_app() -> web.Application:
    app = web.Application(middlewares=[request_ids])
    app.cleanup_ctx.append(geobox_client)
    app.router.add_get("/usage", usage_summary)
    return app


async def main() -> None:
    # Serve the app on loopback and call it once, as a browser or another service would.
    async with TestClient(TestServer(make_app())) as http:
        answer = await http.get("/usage", headers={"X-Request-ID": "web-42"})
        print(answer.status, await answer.json())


if __name__ == "__main__":
    asyncio.run(main())
