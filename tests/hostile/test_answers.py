"""Hostile answers: huge, endless, compressed or absurd bodies end in a typed error, fast,
in bounded memory, after one request."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from geobox_usage import (
    AsyncGeoboxClient,
    GeoboxError,
    GeoboxTimeoutError,
    ResponseDecodeError,
    ResponseLimits,
    ResponseTooLargeError,
    ServerError,
    TimeoutConfig,
    TransportError,
)

from ._servers import APIKEY, CUT_SHORT, Writer, endless, gzip_bomb, huge, json_answer, misbehaving

MiB = 1 << 20


def client_for(host: str, **kwargs: object) -> AsyncGeoboxClient:
    return AsyncGeoboxClient(
        host, apikey=APIKEY, circuit_breaker=None, rate_limit=None, load_entrypoints=False,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize(
    "reply",
    [huge(50 * MiB), huge(50 * MiB, chunked=True), endless, gzip_bomb(64 * MiB)],
    ids=["50MB", "50MB-chunked", "endless", "gzip-bomb"],
)
async def test_a_body_past_the_limit_is_refused_while_reading(reply: Writer) -> None:
    one_mib = ResponseLimits(max_body_bytes=MiB)
    async with (
        misbehaving(reply) as served,
        client_for(served.host, limits=one_mib) as client,
    ):
        with pytest.raises(ResponseTooLargeError) as caught:
            await client.get_usage_summary()
    error = caught.value
    assert error.limit == MiB and error.attempts == 1  # not retried
    assert "over the limit of 1,048,576 bytes (ResponseLimits.max_body_bytes)" in str(error)


def padded(size: int) -> bytes:
    """A JSON array of exactly ``size`` bytes."""
    return b"[" + b" " * (size - 2) + b"]"


LIMIT = 4096


async def test_a_declared_length_at_the_limit_is_read_and_one_byte_more_is_refused() -> None:
    # An uncompressed body of a declared length within the limit is read at once: the
    # bound must be exact on both sides of it.
    limits = ResponseLimits(max_body_bytes=LIMIT)
    async with (
        misbehaving(json_answer(padded(LIMIT))) as served,
        client_for(served.host, limits=limits) as client,
    ):
        assert await client.get_usage_summary() == []
    async with (
        misbehaving(json_answer(padded(LIMIT + 1))) as served,
        client_for(served.host, limits=limits) as client,
    ):
        with pytest.raises(ResponseTooLargeError):
            await client.get_usage_summary()


async def test_a_declared_length_the_body_falls_short_of_is_a_transport_error() -> None:
    # The server promises 50 bytes, sends 4 and hangs up: read at once, that is a
    # broken answer, not a short body taken for the whole one.
    async with (
        misbehaving(CUT_SHORT) as served,
        client_for(served.host, retry=None) as client,
    ):
        with pytest.raises(TransportError):
            await client.get_usage_summary()


async def test_a_huge_error_body_is_reported_without_being_parsed_whole() -> None:
    async with (
        misbehaving(huge(50 * MiB, status="500 Internal Server Error")) as served,
        client_for(served.host, retry=None) as client,
    ):
        with pytest.raises(ServerError) as caught:
            await client.get_usage_summary()
    assert caught.value.status == 500 and caught.value.detail is None


def test_the_limit_is_a_checked_setting() -> None:
    assert ResponseLimits().max_body_bytes == 4 * MiB
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_body_bytes"):
            ResponseLimits(max_body_bytes=bad)  # type: ignore[arg-type]


ABSURD = {
    "deep-nesting": b"[" * 100_000 + b"]" * 100_000,
    "5000-digits": b"9" * 5000,
    "huge-exponent": b"1e999999",
    "nan": b"NaN",
    "minus-infinity": b"-Infinity",
    "not-json": b"<html>hello</html>",
}


@pytest.mark.parametrize("body", ABSURD.values(), ids=ABSURD.keys())
async def test_an_absurd_body_is_a_typed_error_after_one_request(body: bytes) -> None:
    async with misbehaving(json_answer(body)) as served, client_for(served.host) as client:
        with pytest.raises(ResponseDecodeError):
            await client.get_process_usage(days_before_now=1)
    assert served.token_requests == 0


@pytest.mark.parametrize("body", ABSURD.values(), ids=ABSURD.keys())
async def test_an_absurd_error_body_never_replaces_the_status_error(body: bytes) -> None:
    async with (
        misbehaving(json_answer(body, "404 Not Found")) as served,
        client_for(served.host) as client,
    ):
        with pytest.raises(GeoboxError) as caught:
            await client.get_usage_summary()
    assert type(caught.value).__name__ == "NotFoundError"
    assert caught.value.detail is None  # type: ignore[attr-defined]


MEMORY_PROBE = textwrap.dedent(
    """
    import asyncio, json, resource, sys
    sys.path.insert(0, sys.argv[1])
    from tests.hostile._servers import APIKEY, endless, gzip_bomb, huge, misbehaving
    from geobox_usage import AsyncGeoboxClient, ResponseTooLargeError

    async def one(reply):
        async with misbehaving(reply) as served:
            async with AsyncGeoboxClient(served.host, apikey=APIKEY, load_entrypoints=False,
                                         circuit_breaker=None, rate_limit=None) as client:
                try:
                    await client.get_usage_summary()
                except ResponseTooLargeError:
                    return "refused"
        return "accepted"

    async def main():
        bomb = gzip_bomb(256 << 20)  # built before the baseline: the server's, not ours
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        outcomes = [await one(r) for r in (huge(200 << 20), endless, bomb)]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"outcomes": outcomes, "growth_kib": peak - base}))

    asyncio.run(main())
    """
)


def test_hostile_bodies_cost_bounded_memory(tmp_path: object) -> None:
    """200 MB, endless and a 256 MB gzip bomb, with the default limit, in a process of
    its own: its peak memory grows by tens of MiB at most, never by the body's size."""
    root = str(__import__("pathlib").Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, root],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == ["refused"] * 3
    assert report["growth_kib"] < 80 * 1024, report


async def _trickle(writer: asyncio.StreamWriter) -> None:
    """A 200 that sends one byte of its body every 10 ms, for ever: each read is quick,
    so only a limit on the whole answer stops it."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    writer.write(b"Content-Length: 1000000\r\n\r\n[")
    while True:
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"1,")


async def test_an_answer_trickled_byte_by_byte_is_cut_off_at_the_read_limit() -> None:
    async with misbehaving(_trickle) as served:
        client = client_for(served.host, retry=None, timeout=TimeoutConfig(read=0.2))
        async with client:
            with pytest.raises(GeoboxTimeoutError) as caught:
                await client.get_usage_summary()
    assert caught.value.request_sent is True
    # The attempt's read limit ended it, not the call's 60 s deadline (with a per-read
    # limit, each byte arriving in time, only the deadline would).
    assert "timed out waiting for the answer" in str(caught.value)
