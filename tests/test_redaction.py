"""No secret anywhere: a full session with every kind of credential, every text captured."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from geobox_usage import AsyncGeoboxClient, CacheConfig, GeoboxError, Request, specs
from geobox_usage._redact import redact_pairs, redacted_query
from geobox_usage._secret import Secret
from geobox_usage.logs import redact_event, redact_text
from geobox_usage.testing import (
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    DEMO_API_KEY_ID,
    DEMO_PASSWORD,
    DEMO_USER_ID,
    DEMO_USERNAME,
    OTHER_USER_ID,
    REVOKED_API_KEY,
    Fault,
    FaultPlan,
    SimulatedGeobox,
)

ClientFactory = Callable[..., AsyncGeoboxClient]
WRONG_PASSWORD = "wrong-Pa55word-zz9"
SECRETS = [DEMO_ACCESS_TOKEN, DEMO_API_KEY, REVOKED_API_KEY, DEMO_PASSWORD, WRONG_PASSWORD]


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


async def session(
    sim: SimulatedGeobox, fault_plan: FaultPlan, make_client: ClientFactory
) -> list[str]:
    """Use every credential kind, succeed and fail; return every text a user could see."""
    texts: list[str] = []

    async def attempt(call: Any) -> None:
        try:
            await call
        except GeoboxError as exc:
            texts.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc))])

    by_token = make_client(access_token=DEMO_ACCESS_TOKEN, cache=CacheConfig())
    by_key = make_client(apikey=DEMO_API_KEY, cache=CacheConfig(), retry=None)
    by_password = make_client(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    wrong = make_client(username=DEMO_USERNAME, password=WRONG_PASSWORD)
    revoked = make_client(apikey=REVOKED_API_KEY, retry=None)
    for client in (by_token, by_key, by_password):
        user = await client.get_user()
        await client.get_usage_summary()
        await client.get_process_usage(days_before_now=2)
        await client.get_api_usage(user, "day", "calls", days_before_now=2)
        await client.update_usage()
        await attempt(client.get_user(9999))  # 404
        await attempt(client.update_usage(OTHER_USER_ID))  # 403, audited
        texts.extend([repr(client), str(client), repr(client.credentials), repr(client.pipeline)])
        texts.extend(repr(s.stage) for s in client.pipeline.stages)
    key = await by_key.get_apikey(DEMO_API_KEY_ID)
    await by_key.get_api_usage(key, "day", "traffic", days_before_now=2)  # eid = the key
    fault_plan.sequence("usage/summary", Fault.status(503, html=True))
    await attempt(by_key.get_user(DEMO_USER_ID))
    await attempt(wrong.get_usage_summary())  # 401 Incorrect username or password
    await attempt(revoked.get_usage_summary())  # 401 Not authenticated
    sim.expire_tokens()
    await attempt(by_password.get_usage_summary())  # expired token, refreshed
    request = Request(
        spec=specs.USAGE_SUMMARY,
        url=sim.base_url + "v1/usage/summary",
        params=(("apikey", DEMO_API_KEY), ("user_id", "7")),
        headers=(("Authorization", f"Bearer {DEMO_ACCESS_TOKEN}"),),
        request_id="r-1",
    )
    texts.extend([repr(request), str(request), request.display_url])
    return texts


def secrets_seen_by(sim: SimulatedGeobox) -> set[str]:
    """Every credential the server received: bearer tokens (issued ones too) and keys."""
    found = set(SECRETS)
    for recorded in sim.requests:
        auth = recorded.header("Authorization")
        if auth:
            found.add(auth.removeprefix("Bearer ").strip())
        if recorded.param("apikey"):
            found.add(recorded.param("apikey") or "")
    return {s for s in found if s}


def assert_clean(texts: list[str], secrets: set[str]) -> None:
    assert texts
    blob = "\n".join(texts)
    for secret in secrets:
        assert secret not in blob, f"secret {secret[:4]}... leaked"
    assert not re.search(r"(?i)bearer\s+(?!\*\*\*)\w", blob)


async def test_no_secret_in_structlog_events_errors_or_reprs(
    sim: SimulatedGeobox, fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    with capture_logs(processors=[merge_contextvars]) as events:
        texts = await session(sim, fault_plan, make_client)
    assert {e["event"] for e in events} >= {"geobox.call", "geobox.audit", "geobox.auth"}
    texts.extend(repr(e) for e in events)
    assert any(e.get("query", "").startswith("eid=***&") for e in events)  # the key as eid
    assert_clean(texts, secrets_seen_by(sim))


async def test_no_secret_in_stdlib_records(
    sim: SimulatedGeobox,
    fault_plan: FaultPlan,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = await session(sim, fault_plan, make_client)
    records = [r for r in caplog.records if r.name.startswith("geobox_usage")]
    assert {getattr(r, "geobox_event", None) for r in records} >= {"geobox.call", "geobox.audit"}
    formatter = logging.Formatter("%(message)s")
    texts.extend(formatter.format(r) for r in records)
    texts.extend(repr(r.__dict__) for r in records)
    assert_clean(texts, secrets_seen_by(sim))


def test_the_processor_redacts_keys_nested_values_and_text() -> None:
    event = {
        "event": "x",
        "Authorization": "Bearer abc",
        "headers": {"apikey": "k1", "Accept": "json"},
        "params": (("key", "k2"), ("eid", "7")),
        "note": "url?apikey=k3&password=p4 token: t5 Bearer t6",
        "status": 200,
    }
    out = redact_event(None, "info", dict(event))
    text = repr(out)
    for secret in ("abc", "k1", "k2", "k3", "p4", "t5", "t6"):
        assert secret not in text
    assert out["status"] == 200 and out["headers"]["Accept"] == "json"
    assert out["params"][1] == ("eid", "7")


def test_the_processor_takes_named_tuples_such_as_the_pipelines_messages() -> None:
    # A named tuple's constructor takes its fields, not an iterable: rebuilding one
    # "as its own type" raised TypeError inside the host's logging call.
    from multidict import CIMultiDict, CIMultiDictProxy

    from geobox_usage import specs
    from geobox_usage._messages import Request, Response

    request = Request(
        specs.USAGE_SUMMARY,
        "https://h/v1/usage/summary",
        (("apikey", "k7"),),
        (("Authorization", "Bearer t8"),),
    )
    response = Response(request, 200, CIMultiDictProxy(CIMultiDict()), b"{}", {})
    out = redact_event(None, "info", {"event": "x", "request": request, "response": response})
    assert "k7" not in repr(out) and "t8" not in repr(out)
    assert type(out["request"]) is tuple and out["request"][1] == request.url


def test_an_api_key_given_as_eid_is_redacted_from_text() -> None:
    assert redact_text("usage/api?eid=gbx-key-1&scale=day") == "usage/api?eid=***&scale=day"
    assert redact_text("usage/api?eid=7&scale=day") == "usage/api?eid=7&scale=day"


async def test_an_api_key_given_as_eid_never_appears_in_an_error(
    fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    client = make_client(apikey=DEMO_API_KEY, retry=None)
    key = await client.get_apikey(DEMO_API_KEY_ID)
    fault_plan.sequence("usage/api", Fault.status(500))
    with pytest.raises(GeoboxError) as raised:
        await client.get_api_usage(key, "day", "calls", days_before_now=1)
    assert DEMO_API_KEY not in str(raised.value)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["user_id", "apikey", "eid", "q", "a b", "from_date"]) | st.text(),
            st.text() | st.builds(Secret, st.text(min_size=1)),
        ),
        max_size=6,
    )
)
def test_the_logged_query_is_urlencode_of_the_redacted_pairs(
    pairs: list[tuple[str, str | Secret]],
) -> None:
    # The logging stage's fast encoder must write what urlencode wrote before it.
    assert redacted_query(pairs) == urlencode(redact_pairs(pairs), safe=":*")
