"""Small servers that misbehave on purpose, over real loopback TCP.

Each answers the token and API key routes properly, so that every kind of credential
reaches the misbehaving part, and then answers every other request with ``reply``:
raw bytes written as they are (an oversized header, a malformed status line), or
``None`` to keep the connection open and say nothing (a read timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

TOKEN = "tok-SECRET-token-0123456789abcdef"
APIKEY = "key-SECRET-apikey-0123456789abcdef"
PASSWORD = "pw-SECRET-password-42"
SECRETS = (TOKEN, APIKEY, PASSWORD)


def _answer(status: str, body: object) -> bytes:
    return _raw_answer(json.dumps(body).encode(), status)


def _raw_answer(payload: bytes, status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
    return head.encode() + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload


OK_SUMMARY = _answer("200 OK", {"daily_api_calls": 1})


HUGE_HEADER = (
    b"HTTP/1.1 200 OK\r\nSet-Cookie: cdn=" + b"a" * 9000 + b"\r\nContent-Length: 2\r\n\r\n{}"
)
BAD_STATUS_LINE = b"HTTP/1.1 2OO NOT A STATUS\r\nContent-Length: 2\r\n\r\n{}"
CUT_SHORT = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"a"'


@dataclass
class Served:
    """What a misbehaving server was asked: its host, and how many token requests."""

    host: str = ""
    token_requests: int = 0


Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]


def json_answer(body: bytes, status: str = "200 OK") -> bytes:
    """A complete answer with ``body`` as it is (any bytes, valid JSON or not)."""
    return _raw_answer(body, status)


async def endless(writer: asyncio.StreamWriter) -> None:
    """A chunked 200 whose body never ends (until the client goes)."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"[" + b"1," * 32_000
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


def huge(size: int, *, status: str = "200 OK", chunked: bool = False) -> Writer:
    """An answer of ``size`` bytes, written piece by piece (never held whole)."""

    async def write(writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n".encode())
        if chunked:
            writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
        else:
            writer.write(f"Content-Length: {size}\r\n\r\n".encode())
        piece = b'{"detail": "' + b"x" * 65_000
        sent = 0
        while sent < size:
            part = piece[: size - sent]
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            sent += len(part)
            await writer.drain()

    return write


def gzip_bomb(inflated: int) -> Writer:
    """A 200 whose gzip body inflates to ``inflated`` bytes of zeros."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    body = b"".join(packer.compress(block) for _ in range(inflated >> 20)) + packer.flush()

    async def write(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        writer.write(body)
        await writer.drain()

    return write


@contextlib.asynccontextmanager
async def misbehaving(
    reply: bytes | Writer | None, *, token_answer: bytes | None = None
) -> AsyncIterator[Served]:
    """Serve on a free loopback port; yields the host to give the client.

    Args:
        reply: what every request but the token and API key routes gets.
        token_answer: the raw JSON body of the token answer; a proper one by default.
    """
    hanging: list[asyncio.StreamWriter] = []
    handlers: set[asyncio.Task[None]] = set()
    served = Served()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            handlers.add(task)
        try:
            await respond(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await reader.readexactly(length)
        path = head.split(b" ", 2)[1]
        if path.startswith(b"/v1/auth/token/"):
            served.token_requests += 1
            answer: bytes | Writer | None = _raw_answer(
                token_answer
                or json.dumps(
                    {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600}
                ).encode()
            )
        elif path.startswith(b"/v1/apikeys/"):
            answer = _answer("200 OK", {"id": 3, "name": "reports", "key": APIKEY})
        else:
            answer = reply
        if answer is None:
            hanging.append(writer)  # say nothing, keep the connection open
            await reader.read()  # until either side hangs up
            return
        if callable(answer):
            with contextlib.suppress(ConnectionError):
                await answer(writer)
            writer.close()
            return
        writer.write(answer)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()  # one request per connection: the client opens a new one

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    served.host = f"http://127.0.0.1:{port}"
    try:
        yield served
    finally:
        for writer in hanging:
            writer.close()
        server.close()
        # A handler still writing (an endless or trickled answer) is stopped, and every
        # handler is waited for: Python 3.11's ``wait_closed`` does not, and a
        # connection left to the garbage collector after the test's loop is gone fails
        # whichever test runs then with a ResourceWarning.
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
