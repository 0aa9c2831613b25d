"""The server process of the benchmark: started once, queried by every client process.

Two kinds, chosen with ``--server``:

* ``minimal`` (the default): an aiohttp server that answers ``GET /v1/usage/summary``
  with the wire contract's summary shape for any ``user_id``, checks the bearer token
  and echoes ``X-Request-ID``. It does as little as a server can, so the numbers show
  the client's cost rather than the server's.
* ``simulator``: :class:`geobox_usage.testing.SimulatedGeobox` with extra accounts so
  that every distinct ``user_id`` a benchmark asks for exists. It is the real contract,
  but costs far more server CPU per request than the client under test.

Both count the requests that reach ``/v1/`` and serve that count at
``GET /_bench/requests``, so a client process can tell how many requests its calls
really made (the single-flight check). Run as ``python -m benchmarks.server``: it prints
its base URL on the first line of stdout and serves until its stdin is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from geobox_usage.testing import ADMIN_ACCESS_TOKEN, DEFAULT_USERS, SimulatedGeobox, SimUser

__all__ = [
    "BENCH_TOKEN",
    "FIRST_USER_ID",
    "SERVER_KINDS",
    "make_app",
    "make_minimal_app",
    "make_simulator_app",
    "main",
]

BENCH_TOKEN: Final = ADMIN_ACCESS_TOKEN
"""The bearer token every client sends: the simulator's admin, who may read any user."""

FIRST_USER_ID: Final = 1000
"""The lowest user id a benchmark asks for (clear of the simulator's default accounts)."""

SERVER_KINDS: Final = ("minimal", "simulator")

_REQUESTS: Final = web.AppKey("requests", list[int])
_SIM_LOG_LIMIT: Final = 10_000

# The summary of the wire contract, after the user id. Built once: the server's cost
# per request must stay small next to the client's.
_SUMMARY_TAIL: Final = json.dumps(
    {
        "available_storage": 396210733056,
        "used_storage": 1229062883,
        "max_daily_api_calls": 100000000,
        "daily_api_calls": 79,
        "max_monthly_api_calls": 3000000000,
        "monthly_api_calls": 2865,
        "max_daily_traffic": 10737418240,
        "daily_traffic": 251705,
        "max_monthly_traffic": 322122547200,
        "monthly_traffic": 50359396,
        "max_daily_process": 576,
        "daily_process": 0,
        "max_monthly_process": 17280,
        "monthly_process": 23,
        "remaining_days": None,
    },
    separators=(",", ":"),
)[1:].encode()
_AUTHORIZATION: Final = f"Bearer {BENCH_TOKEN}"
_JSON: Final = "application/json"


def _count(app: web.Application) -> None:
    app[_REQUESTS][0] += 1


def _error(status: int, detail: str) -> web.Response:
    body = json.dumps({"detail": detail}).encode()
    return web.Response(status=status, body=body, content_type=_JSON)


async def _requests_seen(request: web.Request) -> web.Response:
    body = json.dumps({"requests": request.app[_REQUESTS][0]}).encode()
    return web.Response(body=body, content_type=_JSON)


async def _summary(request: web.Request) -> web.Response:
    _count(request.app)
    if request.headers.get("Authorization") != _AUTHORIZATION:
        return _error(401, "Not authenticated")
    raw = request.query.get("user_id", str(FIRST_USER_ID))
    if not raw.isdigit():
        return _error(422, "user_id must be an integer")
    body = b'{"user_id":' + raw.encode() + b"," + _SUMMARY_TAIL
    headers = {"X-Request-ID": request.headers.get("X-Request-ID", "")}
    return web.Response(body=body, content_type=_JSON, headers=headers)


async def _not_found(request: web.Request) -> web.Response:
    _count(request.app)
    return _error(404, "Not Found")


def make_minimal_app() -> web.Application:
    """The minimal server: the summary route, the request count, 404 for the rest."""
    app = web.Application()
    app[_REQUESTS] = [0]
    app.router.add_get("/_bench/requests", _requests_seen)
    app.router.add_get("/v1/usage/summary", _summary)
    app.router.add_route("*", "/v1/{tail:.*}", _not_found)
    return app


def make_simulator_app(users: int) -> web.Application:
    """The simulator with ``users`` extra accounts from :data:`FIRST_USER_ID` on.

    Its request log is cleared every few thousand requests: it would otherwise grow
    for the whole run and slow the server down as it goes.
    """
    extra = tuple(
        SimUser(uid, f"bench{uid}", "bench-password", f"bench{uid}@example.com")
        for uid in range(FIRST_USER_ID, FIRST_USER_ID + users)
    )
    sim = SimulatedGeobox(seed=0, users=(*DEFAULT_USERS, *extra))

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/v1/"):
            _count(request.app)
            if request.app[_REQUESTS][0] % _SIM_LOG_LIMIT == 0:
                sim.reset_log()
        return await handler(request)

    app = web.Application(middlewares=[count])
    app[_REQUESTS] = [0]
    app.router.add_get("/_bench/requests", _requests_seen)
    app.add_subapp("/v1/", sim.make_app())
    return app


def make_app(kind: str, users: int) -> web.Application:
    """The application of a server kind (see :data:`SERVER_KINDS`)."""
    if kind == "minimal":
        return make_minimal_app()
    if kind == "simulator":
        return make_simulator_app(users)
    raise ValueError(f"server kind must be one of {', '.join(SERVER_KINDS)}, got {kind!r}")


async def _serve(kind: str, users: int) -> None:
    runner = web.AppRunner(make_app(kind, users), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        print(f"http://127.0.0.1:{port}/", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        stdin = sys.stdin.fileno()

        def on_stdin() -> None:
            if not os.read(stdin, 4096):
                loop.remove_reader(stdin)
                stop.set()

        loop.add_reader(stdin, on_stdin)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Serve until stdin closes; the first line on stdout is the base URL."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server")
    parser.add_argument("--kind", choices=SERVER_KINDS, default="minimal")
    parser.add_argument("--users", type=int, default=10_000, help="simulator accounts")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.kind, args.users))


if __name__ == "__main__":
    main()
