"""A loopback HTTP server that answers with whatever bytes a test chooses (or never).

aiohttp's own server cannot send a malformed status line or a header over aiohttp's
client limit, so these tests speak HTTP/1.1 by hand over ``asyncio.start_server``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

TOKEN = "tok-hostile-Zq8w2v7LrPk3"
"""The token the raw server issues for ``POST /v1/auth/token/``."""

Answer = Callable[["RawRequest"], Awaitable[bytes | None]]
"""Bytes to send back for a request, or ``None`` to never answer."""


@dataclass(frozen=True)
class RawRequest:
    """What the server received: the request line, the head and the body."""

    line: str
    head: str
    body: bytes

    @property
    def path(self) -> str:
        return self.line.split(" ")[1] if " " in self.line else ""


@dataclass
class RawServer:
    """The server's address and what it received."""

    base_url: str
    requests: list[RawRequest] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def http_answer(status: str, body: bytes, *, headers: tuple[str, ...] = ()) -> bytes:
    """A well-formed HTTP/1.1 answer with a JSON body."""
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def token_answer(token: str = TOKEN, expires_in: object = 3600) -> bytes:
    """A token answer; ``expires_in`` may be any JSON-able value (``float('nan')`` is
    written as the ``NaN`` literal, as Python's json module does)."""
    body = json.dumps({"access_token": token, "token_type": "bearer", "expires_in": expires_in})
    return http_answer("200 OK", body.encode())


async def answer_token_then(request: RawRequest, rest: Answer) -> bytes | None:
    """Answer a token request properly and hand every other request to ``rest``."""
    if request.line.startswith("POST ") and "/auth/token/" in request.path:
        return token_answer()
    return await rest(request)


@asynccontextmanager
async def raw_server(answer: Answer) -> AsyncIterator[RawServer]:
    """Serve ``answer`` on a loopback port; every connection is closed on exit."""
    writers: set[asyncio.StreamWriter] = set()
    handlers: set[asyncio.Task[None]] = set()
    server_ref: list[RawServer] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            handlers.add(task)
        writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                text = head.decode("latin-1")
                length = 0
                for line in text.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                request = RawRequest(text.split("\r\n", 1)[0], text, body)
                server_ref[0].requests.append(request)
                server_ref[0].arrived.set()
                data = await answer(request)
                if data is None:
                    await reader.read()  # never answer: wait until either side hangs up
                    return
                writer.write(data)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writers.discard(writer)
            writer.close()
            with contextlib.suppress(OSError, RuntimeError, asyncio.CancelledError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state = RawServer(base_url=f"http://127.0.0.1:{port}")
    server_ref.append(state)
    try:
        yield state
    finally:
        server.close()
        for writer in list(writers):
            writer.close()
        # Python 3.11's ``wait_closed`` does not wait for the handlers: wait for them,
        # or a connection they close is left to the garbage collector after the test's
        # loop is gone (a ResourceWarning that fails the test that happens to run then).
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
