"""Every non-2xx answer and every transport failure raises the right typed error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from geobox_usage import (
    ApiRequestError,
    AsyncGeoboxClient,
    AuthenticationError,
    AuthorizationError,
    CircuitOpenError,
    GeoboxError,
    GeoboxTimeoutError,
    HTTPStatusError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TimeoutConfig,
    TransportError,
    ValidationError,
    specs,
)
from geobox_usage.errors import parse_retry_after
from geobox_usage.testing import (
    DEMO_API_KEY,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    OTHER_USER_ID,
    Fault,
    FaultPlan,
    SimulatedGeobox,
)

from .conftest import ClientFactory


@pytest.fixture
def client(make_client: ClientFactory) -> AsyncGeoboxClient:
    """A client that makes one attempt per call, so each answer is seen as it is."""
    return make_client(retry=None, circuit_breaker=None, rate_limit=None)


STATUS_ERRORS = [
    (400, ValidationError),
    (401, AuthenticationError),
    (403, AuthorizationError),
    (404, NotFoundError),
    (409, HTTPStatusError),
    (418, HTTPStatusError),
    (422, ValidationError),
    (429, RateLimitError),
    (500, ServerError),
    (502, ServerError),
    (503, ServerError),
    (504, ServerError),
]


@pytest.mark.parametrize(("status", "error_type"), STATUS_ERRORS)
@pytest.mark.parametrize("html", [False, True], ids=["json", "html"])
async def test_every_error_status_raises_its_error(
    sim: SimulatedGeobox,
    fault_plan: FaultPlan,
    client: AsyncGeoboxClient,
    status: int,
    error_type: type[HTTPStatusError],
    html: bool,
) -> None:
    fault_plan.sequence("usage/summary", Fault.status(status, html=html, detail="it went wrong"))
    with pytest.raises(error_type) as caught:
        await client.get_usage_summary()
    error = caught.value
    assert type(error) is error_type
    assert isinstance(error, HTTPStatusError) and isinstance(error, GeoboxError)
    assert not isinstance(error, ApiRequestError)  # as in the official SDK: that means no answer
    assert error.status == error.status_code == status
    assert error.method == "GET"
    assert error.url == f"{sim.api_url}usage/summary"
    assert error.operation == "get_usage_summary"
    assert error.request_id == sim.requests[0].request_id
    if html:
        assert error.detail is None
        assert error.body.lstrip().lower().startswith("<!doctype html") or "<html" in error.body
    else:
        assert error.detail == "it went wrong"
        assert "it went wrong" in str(error)
    assert str(status) in str(error)
    assert len(error.body) <= 1024


async def test_validation_error_lists_each_problem(client: AsyncGeoboxClient) -> None:
    params = (("eid", "7"), ("scale", "weekly"), ("param", "calls"), ("days_before_now", "1"))
    with pytest.raises(ValidationError) as caught:
        await client.execute(specs.API_USAGE, params=params)
    error = caught.value
    assert error.status == 422
    assert isinstance(error.detail, list)
    assert error.detail[0]["loc"] == ["query", "scale"]
    assert "query.scale: " in str(error)


async def test_real_server_refusals_map_to_their_errors(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(retry=None, circuit_breaker=None)
    with pytest.raises(AuthorizationError):
        await client.get_usage_summary(user_id=OTHER_USER_ID)
    with pytest.raises(NotFoundError):
        await client.get_user(999)
    with pytest.raises(NotFoundError):
        await client.get_apikey(999)
    wrong = make_client(access_token="not-a-token", retry=None)
    with pytest.raises(AuthenticationError) as caught:
        await wrong.get_usage_summary()
    assert caught.value.detail == "Invalid token"


async def test_wrong_password_fails_at_once_without_a_loop(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(username=DEMO_USERNAME, password="wrong-password")
    for _ in range(3):
        with pytest.raises(AuthenticationError) as caught:
            await client.get_usage_summary()
        assert caught.value.detail == "Incorrect username or password"
    assert sim.token_requests == 1
    assert sim.count(path="usage/summary") == 0


@pytest.mark.parametrize(
    "fault", [Fault.not_json(), Fault.not_json(html=True)], ids=["text", "html"]
)
async def test_a_body_that_is_not_json_raises_response_decode_error(
    fault_plan: FaultPlan, client: AsyncGeoboxClient, fault: Fault
) -> None:
    fault_plan.sequence("usage/summary", fault)
    with pytest.raises(ResponseDecodeError) as caught:
        await client.get_usage_summary()
    assert caught.value.status == 200
    assert caught.value.operation == "get_usage_summary"
    assert "not valid JSON" in str(caught.value)


async def test_a_body_cut_short_by_the_connection_is_a_transport_fault(
    fault_plan: FaultPlan, client: AsyncGeoboxClient
) -> None:
    fault_plan.sequence("usage/summary", Fault.truncate())
    with pytest.raises(TransportError) as caught:
        await client.get_usage_summary()
    assert caught.value.request_sent is True


async def test_json_of_an_unexpected_shape_is_returned_not_refused(
    sim: SimulatedGeobox, fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    # A 200 whose body is an object where the operation expects a number: the server
    # sent valid JSON, so the caller gets it as sent, after one request (no retry).
    client = make_client()
    fault_plan.sequence("usage/process", Fault.status(200, detail="fine"))
    assert await client.get_process_usage(days_before_now=1) == {"detail": "fine"}
    assert sim.count("GET", "usage/process") == 1


async def test_a_body_that_is_not_json_is_refused_and_not_retried(
    sim: SimulatedGeobox, fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    client = make_client()
    fault_plan.sequence("usage/summary", Fault.not_json(html=True))
    with pytest.raises(ResponseDecodeError, match="not valid JSON") as caught:
        await client.get_usage_summary()
    assert caught.value.status_code == 200 and caught.value.attempts == 1
    assert sim.count("GET", "usage/summary") == 1


async def test_a_dropped_connection_may_have_reached_the_server(
    sim: SimulatedGeobox, fault_plan: FaultPlan, client: AsyncGeoboxClient
) -> None:
    fault_plan.sequence("POST usage/update", Fault.drop())
    with pytest.raises(TransportError) as caught:
        await client.update_usage()
    assert caught.value.request_sent is True
    assert sim.updates_performed == 1  # the server did the work; the answer was lost


async def test_a_refused_connection_never_sent_the_request(no_geobox_env: None) -> None:
    async with SimulatedGeobox() as sim:
        host = sim.base_url
    async with AsyncGeoboxClient(
        host, access_token="t", retry=None, circuit_breaker=None
    ) as client:
        with pytest.raises(TransportError) as caught:
            await client.update_usage()
    assert caught.value.request_sent is False
    assert "cannot connect" in str(caught.value)
    assert "the request was not sent" in str(caught.value)


async def test_a_slow_answer_times_out(fault_plan: FaultPlan, make_client: ClientFactory) -> None:
    client = make_client(retry=None, circuit_breaker=None, timeout=TimeoutConfig(read=0.05))
    fault_plan.sequence("usage/summary", Fault.delay(0.5))
    with pytest.raises(GeoboxTimeoutError) as caught:
        await client.get_usage_summary()
    assert caught.value.request_sent is True
    assert "timed out waiting for the answer" in str(caught.value)


async def test_retry_after_is_read_in_both_forms(
    fault_plan: FaultPlan, client: AsyncGeoboxClient
) -> None:
    later = datetime.now(UTC) + timedelta(seconds=120)
    fault_plan.sequence(
        "usage/summary",
        Fault.status(429, retry_after=7),
        Fault.status(503, retry_after=later),
    )
    with pytest.raises(RateLimitError) as first:
        await client.get_usage_summary()
    assert first.value.retry_after == 7
    with pytest.raises(ServerError) as second:
        await client.get_usage_summary()
    assert second.value.retry_after is not None and 100 < second.value.retry_after <= 120


def test_parse_retry_after_edge_cases() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC).timestamp()
    assert parse_retry_after(None, now=now) is None
    assert parse_retry_after("  3 ", now=now) == 3.0
    assert parse_retry_after("0.25", now=now) == 0.25
    assert parse_retry_after("-4", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("nan", now=now) is None
    date = format_datetime(datetime(2026, 11, 25, 0, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(date, now=now) == 30.0
    past = format_datetime(datetime(2026, 11, 24, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


async def test_api_key_never_appears_in_error_text_or_repr(
    fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    client = make_client(apikey=DEMO_API_KEY, retry=None, circuit_breaker=None)
    fault_plan.sequence("usage/summary", Fault.status(500))
    with pytest.raises(ServerError) as caught:
        await client.get_usage_summary()
    error = caught.value
    for text in (str(error), repr(error), error.url, repr(client), str(client.credentials)):
        assert DEMO_API_KEY not in text
    assert "apikey=***" in error.url


async def test_password_and_token_never_appear_in_reprs(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    await client.get_usage_summary()
    stages = [repr(s.stage) for s in client.pipeline.stages]
    token = sim.requests[-1].header("Authorization") or ""
    for text in (repr(client), *stages):
        assert DEMO_PASSWORD not in text
        assert token.split()[-1] not in text


def test_errors_survive_copy_and_pickle() -> None:
    import copy
    import pickle

    from multidict import CIMultiDict, CIMultiDictProxy

    original = RateLimitError(
        status=429,
        method="GET",
        url="https://h/v1/usage/summary?apikey=***",
        detail="slow down",
        retry_after=2.0,
        headers=CIMultiDictProxy(CIMultiDict({"Retry-After": "2"})),
        operation="get_usage_summary",
        request_id="rid",
        attempts=3,
    )
    for clone in (copy.copy(original), pickle.loads(pickle.dumps(original))):
        assert type(clone) is RateLimitError
        assert str(clone) == str(original)
        assert (clone.status, clone.retry_after, clone.attempts) == (429, 2.0, 3)
        assert clone.headers is not None and clone.headers["Retry-After"] == "2"


async def _route(client: AsyncGeoboxClient) -> str:
    """Code written for the official SDK: network failures first, then a 404."""
    try:
        await client.get_user(OTHER_USER_ID + 1000)
    except ApiRequestError:
        return "no answer"
    except NotFoundError:
        return "not found"
    return "found"


async def test_official_handler_order_routes_a_404_and_a_refused_connection(
    client: AsyncGeoboxClient, no_geobox_env: None
) -> None:
    assert await _route(client) == "not found"
    async with SimulatedGeobox() as gone:
        host = gone.base_url
    async with AsyncGeoboxClient(
        host, access_token="t", retry=None, circuit_breaker=None
    ) as offline:
        assert await _route(offline) == "no answer"


@pytest.mark.parametrize(
    ("error_type", "status"),
    [
        (ValidationError, 422),
        (AuthenticationError, 401),
        (AuthorizationError, 403),
        (NotFoundError, 404),
        (RateLimitError, 429),
        (ServerError, 500),
    ],
)
def test_status_errors_are_built_as_the_official_sdk_builds_them(
    error_type: type[HTTPStatusError], status: int
) -> None:
    error = error_type("it went wrong")
    assert (error.message, str(error), error.status_code) == ("it went wrong",) * 2 + (status,)
    assert error_type.__mro__[1:3] == (HTTPStatusError, GeoboxError)
    assert not isinstance(error, ApiRequestError)


def test_api_request_error_takes_the_official_arguments() -> None:
    official = ApiRequestError(503, "Request failed")
    assert (official.status_code, official.message) == (503, "Request failed")
    assert ApiRequestError("no answer").status_code is None
    assert ApiRequestError().message == "API request failed"
    for no_answer in (TransportError, GeoboxTimeoutError, CircuitOpenError):
        assert issubclass(no_answer, ApiRequestError)
        assert no_answer("x").status_code is None
    assert not issubclass(ResponseDecodeError, ApiRequestError)
    assert ResponseDecodeError("x", status=200).status_code == 200
    with pytest.raises(TypeError, match=r"takes \(message\) or \(status_code, message\)"):
        ApiRequestError(1, 2, 3)
