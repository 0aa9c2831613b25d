"""No raised error, its chain, its formatted traceback, or its locals hold a secret.

Each failure comes from a server written to misbehave (an oversized header, a malformed
status line, a cut body, an answer that never comes), for each kind of credential, and
through the operation that puts an API key in the query (``eid``).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import structlog

from geobox_usage import (
    AsyncGeoboxClient,
    AsyncUser,
    GeoboxError,
    GeoboxTimeoutError,
    ResponseDecodeError,
    RetryConfig,
    Secret,
    TimeoutConfig,
    TransportError,
    UsageParam,
    UsageScale,
)

from ._servers import (
    APIKEY,
    BAD_STATUS_LINE,
    CUT_SHORT,
    HUGE_HEADER,
    OK_SUMMARY,
    PASSWORD,
    SECRETS,
    TOKEN,
    misbehaving,
)

CREDENTIALS: dict[str, dict[str, str]] = {
    "apikey": {"apikey": APIKEY},
    "token": {"access_token": TOKEN},
    "password": {"username": "reporter", "password": PASSWORD},
}

Call = Callable[[AsyncGeoboxClient], Awaitable[Any]]


async def _summary(client: AsyncGeoboxClient) -> Any:
    return await client.get_usage_summary()


async def _key_usage(client: AsyncGeoboxClient) -> Any:
    key = await client.get_apikey(3)  # its key travels as ``eid`` in the query
    return await client.get_api_usage(key, UsageScale.Day, UsageParam.Calls, days_before_now=2)


async def _user_usage(client: AsyncGeoboxClient) -> Any:
    user = AsyncUser(client, 7, {"id": 7})
    return await client.get_api_usage(user, UsageScale.Day, UsageParam.Calls, days_before_now=2)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _with_locals(error: BaseException) -> str:
    """What structlog's ``dict_tracebacks`` with locals writes for ``error`` (JSON)."""
    render = structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=True)
    )
    event = render(None, "error", {"event": "failed", "exc_info": error})
    return json.dumps(event, default=repr)


def assert_no_secret(error: BaseException) -> None:
    views = {
        "str": str(error),
        "repr": repr(error),
        "chain": " | ".join(f"{type(e).__name__}: {e!s} {e!r}" for e in _chain(error)),
        "traceback": "".join(traceback.format_exception(error)),
        "locals": _with_locals(error),
    }
    for name, text in views.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret[:12]}... in the {name} of {error!r}"


@pytest.mark.parametrize("credential", sorted(CREDENTIALS))
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (HUGE_HEADER, TransportError),
        (BAD_STATUS_LINE, TransportError),
        (CUT_SHORT, TransportError),
        (None, GeoboxTimeoutError),
    ],
    ids=["header-over-8190-bytes", "malformed-status-line", "cut-short", "read-timeout"],
)
@pytest.mark.parametrize("call", [_summary, _key_usage, _user_usage], ids=lambda c: c.__name__)
async def test_failures_never_show_a_secret(
    credential: str, reply: bytes | None, expected: type[GeoboxError], call: Call
) -> None:
    async with misbehaving(reply) as served:
        client = AsyncGeoboxClient(
            served.host,
            **CREDENTIALS[credential],
            retry=None,
            circuit_breaker=None,
            rate_limit=None,
            # The read limit bounds the whole attempt (the API key route included): only
            # the server that says nothing gets a short one, so that a loaded machine
            # cannot time out the others before their answer is read.
            timeout=TimeoutConfig(connect=1.0, read=0.05 if reply is None else 5.0),
            load_entrypoints=False,
        )
        async with client:
            with pytest.raises(expected) as caught:
                await call(client)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or isinstance(caught.value.__context__, GeoboxError)
    assert_no_secret(caught.value)


async def test_a_deadline_spent_inside_aiohttp_chains_nothing_from_it() -> None:
    async with misbehaving(None) as served, AsyncGeoboxClient(
        served.host, apikey=APIKEY, circuit_breaker=None, rate_limit=None, load_entrypoints=False,
        timeout=TimeoutConfig(connect=1.0, read=5.0),
        retry=RetryConfig(deadline=0.05),
    ) as client:  # fmt: skip
        with pytest.raises(GeoboxTimeoutError) as caught:
            await client.get_usage_summary()
    assert "deadline" in str(caught.value)
    assert_no_secret(caught.value)


def test_credentials_are_secrets_from_the_constructor_on() -> None:
    client = AsyncGeoboxClient(apikey=APIKEY, load_entrypoints=False)
    assert isinstance(client.credentials.apikey, Secret)
    for text in (repr(client), str(client.credentials), repr(client.credentials.apikey),
                 f"{client.credentials.apikey}", str(vars(client))):  # fmt: skip
        assert APIKEY not in text
    assert client.credentials.apikey.reveal() == APIKEY


def test_host_user_info_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="host must not hold credentials") as caught:
        AsyncGeoboxClient("https://reporter:hunter2-pass@api.example", access_token=TOKEN)
    assert "hunter2-pass" not in str(caught.value)


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "abc\n", "a\x00b"])
def test_a_token_that_no_header_can_carry_is_refused_at_construction(token: str) -> None:
    with pytest.raises(ValueError, match="line break or a control character") as caught:
        AsyncGeoboxClient(access_token=token, load_entrypoints=False)
    assert token not in str(caught.value)


@pytest.mark.parametrize(
    ("argument", "value"), [("apikey", b"key"), ("access_token", 12345), ("password", ["pw"])]
)
def test_a_credential_that_is_not_a_string_is_refused_without_showing_it(
    argument: str, value: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs: dict[str, Any] = {argument: value}
    if argument == "password":
        kwargs["username"] = "reporter"
    with pytest.raises(ValueError, match=f"{argument} must be a string, got") as caught:
        AsyncGeoboxClient(**kwargs, load_entrypoints=False)
    assert repr(value) not in str(caught.value)


def test_the_password_is_no_input_of_the_identity() -> None:
    def identity(**kwargs: str) -> str:
        return AsyncGeoboxClient(load_entrypoints=False, **kwargs).credentials.identity

    one = identity(username="reporter", password="hunter2")
    assert one == identity(username="reporter", password="correct horse battery staple")
    assert one.startswith("password:") and "hunter2" not in one and "reporter" not in one
    assert one != identity(username="other", password="hunter2")
    assert one != identity(host="https://geobox.example", username="reporter", password="x")
    # Stable across processes and hosts: a pure function of the host and the username.
    assert (
        one
        == "password:"
        + __import__("hashlib").sha256(b"password\0api.geobox.ir\0reporter").hexdigest()[:16]
    )


@pytest.mark.parametrize("expires_in", [b"0", b"-5", b"NaN", b"-Infinity", b"1e999", b'"soon"'])
async def test_an_absurd_token_lifetime_does_not_fetch_a_token_per_call(expires_in: bytes) -> None:
    token = b'{"access_token": "' + TOKEN.encode() + b'", "expires_in": ' + expires_in + b"}"
    async with (
        misbehaving(OK_SUMMARY, token_answer=token) as served,
        AsyncGeoboxClient(
            served.host, username="reporter", password=PASSWORD, load_entrypoints=False
        ) as client,
    ):
        for _ in range(3):
            assert await client.get_usage_summary() == {"daily_api_calls": 1}
    assert served.token_requests == 1


async def test_a_token_with_a_line_break_is_a_typed_error_that_hides_it() -> None:
    token = b'{"access_token": "abc\\r\\nX-Injected: 1' + TOKEN.encode() + b'"}'
    async with misbehaving(OK_SUMMARY, token_answer=token) as served, AsyncGeoboxClient(
        served.host, username="reporter", password=PASSWORD, retry=None,
        load_entrypoints=False,
    ) as client:  # fmt: skip
        with pytest.raises(ResponseDecodeError, match="line break or a control character"):
            await client.get_usage_summary()
    assert served.token_requests == 2  # on entering (left to the first call), then by it
