"""The server process of the benchmark: started once, queried by every client process.

Two kinds, chosen with ``--server``:

* ``minimal`` (the default): a bare asyncio protocol speaking HTTP/1.1 keep-alive that
  answers ``GET /v1/usage/summary`` with the wire contract's summary shape for any
  ``user_id``, checks the bearer token and echoes ``X-Request-ID``. It does as little
  as a server can (an aiohttp application costs several times more per request), so
  that the client under test, not the server, is what limits a run.
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

from .cpus import pin_from_env

__all__ = [
    "BENCH_TOKEN",
    "FIRST_USER_ID",
    "SERVER_KINDS",
    "MinimalProtocol",
    "make_app",
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


async def _requests_seen(request: web.Request) -> web.Response:
    body = json.dumps({"requests": request.app[_REQUESTS][0]}).encode()
    return web.Response(body=body, content_type=_JSON)


def _http_answer(status: bytes, body: bytes, request_id: bytes = b"") -> bytes:
    head = b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
    if request_id:
        head += b"X-Request-ID: " + request_id + b"\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


_UNAUTHORIZED: Final = _http_answer(b"401 Unauthorized", b'{"detail":"Not authenticated"}')
_NOT_FOUND: Final = _http_answer(b"404 Not Found", b'{"detail":"Not Found"}')
_UNPROCESSABLE: Final = _http_answer(
    b"422 Unprocessable Entity", b'{"detail":"user_id must be an integer"}'
)
_AUTHORIZATION_BYTES: Final = _AUTHORIZATION.encode()


class MinimalProtocol(asyncio.Protocol):
    """The minimal server, one connection: HTTP/1.1 keep-alive on a bare asyncio
    protocol, about as cheap per request as a Python server gets (an aiohttp
    application costs several times more, enough to make the server, not the client
    under test, the bottleneck of a run)."""

    def __init__(self, counter: list[int]) -> None:
        self._counter = counter
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        transport = self._transport
        assert transport is not None
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            lines = buffer[:end].split(b"\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0") or 0)
            if len(buffer) < end + 4 + length:
                break  # the body is still coming
            buffer = buffer[end + 4 + length :]
            method, target, _ = [*lines[0].split(b" ", 2), b"", b""][:3]
            transport.write(self._answer(method, target, headers))
            if headers.get(b"connection", b"").lower() == b"close":
                transport.close()
                break
        self._buffer = buffer

    def _answer(self, method: bytes, target: bytes, headers: dict[bytes, bytes]) -> bytes:
        path, _, query = target.partition(b"?")
        if path == b"/_bench/requests":
            return _http_answer(b"200 OK", b'{"requests":%d}' % self._counter[0])
        if path.startswith(b"/v1/"):
            self._counter[0] += 1
        if path != b"/v1/usage/summary" or method != b"GET":
            return _NOT_FOUND
        if headers.get(b"authorization") != _AUTHORIZATION_BYTES:
            return _UNAUTHORIZED
        user_id = str(FIRST_USER_ID).encode()
        for pair in query.split(b"&"):
            if pair.startswith(b"user_id="):
                user_id = pair[8:]
        if not user_id.isdigit():
            return _UNPROCESSABLE
        body = b'{"user_id":' + user_id + b"," + _SUMMARY_TAIL
        return _http_answer(b"200 OK", body, headers.get(b"x-request-id", b""))


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
    """The aiohttp application of the simulator kind (the minimal kind is a protocol)."""
    if kind == "simulator":
        return make_simulator_app(users)
    raise ValueError(f"an aiohttp application serves only the simulator kind, got {kind!r}")


async def _until_stdin_closes() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()

    def on_stdin() -> None:
        if not os.read(stdin, 4096):
            loop.remove_reader(stdin)
            stop.set()

    loop.add_reader(stdin, on_stdin)
    await stop.wait()


async def _serve(kind: str, users: int) -> None:
    if kind == "minimal":
        counter = [0]
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: MinimalProtocol(counter), "127.0.0.1", 0, backlog=1024
        )
        port = server.sockets[0].getsockname()[1]
        print(f"http://127.0.0.1:{port}/", flush=True)
        try:
            await _until_stdin_closes()
        finally:
            server.close()
        return
    if kind not in SERVER_KINDS:
        raise ValueError(f"server kind must be one of {', '.join(SERVER_KINDS)}, got {kind!r}")
    runner = web.AppRunner(make_app(kind, users), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        print(f"http://127.0.0.1:{port}/", flush=True)
        await _until_stdin_closes()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Serve until stdin closes; the first line on stdout is the base URL."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server")
    parser.add_argument("--kind", choices=SERVER_KINDS, default="minimal")
    parser.add_argument("--users", type=int, default=10_000, help="simulator accounts")
    args = parser.parse_args(argv)
    pin_from_env()
    asyncio.run(_serve(args.kind, args.users))


if __name__ == "__main__":
    main()
