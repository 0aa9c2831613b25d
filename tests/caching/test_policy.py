"""The cache's pure rules: Cache-Control, freshness, stale windows, storability, keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geobox_usage import specs
from geobox_usage.caching._policy import (
    CacheControl,
    Lookup,
    cache_key,
    classify,
    freshness_lifetime,
    is_cacheable_spec,
    is_server_failure,
    make_entry,
    parse_cache_control,
    stale_window,
)
from geobox_usage.errors import (
    AuthorizationError,
    CircuitOpenError,
    GeoboxTimeoutError,
    RateLimitError,
    ServerError,
    TransportError,
)

NOW = 1_800_000_000.0


def entry(headers: tuple[tuple[str, str], ...] = (), **kw: float) -> object:
    args: dict[str, float] = {"spec_ttl": None, "default_ttl": 30.0, "stale_if_error": 0.0}
    args.update(kw)
    return make_entry(status=200, headers=headers, body=b"{}", now=NOW, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, CacheControl()),
        ("", CacheControl()),
        ("no-store", CacheControl(no_store=True)),
        ("No-Cache", CacheControl(no_cache=True)),
        ("max-age=60", CacheControl(max_age=60.0)),
        ('private, max-age="5", must-revalidate', CacheControl(must_revalidate=True, max_age=5.0)),
        ("max-age=-3", CacheControl(max_age=0.0)),
        ("max-age=soon", CacheControl()),
        ("max-age=inf", CacheControl()),
        ("public, s-maxage=9, x-unknown", CacheControl()),
    ],
)
def test_cache_control_is_read(value: str | None, expected: CacheControl) -> None:
    assert parse_cache_control(value) == expected


def test_server_max_age_wins_over_spec_and_config_ttls() -> None:
    assert freshness_lifetime(CacheControl(max_age=500.0), 5.0, 30.0) == 500.0
    assert freshness_lifetime(CacheControl(max_age=1.0), 5.0, 30.0) == 1.0
    assert freshness_lifetime(CacheControl(), 5.0, 30.0) == 5.0
    assert freshness_lifetime(CacheControl(), None, 30.0) == 30.0


def test_no_store_no_cache_zero_max_age_and_errors_are_not_stored() -> None:
    assert entry((("Cache-Control", "no-store"),)) is None
    assert entry((("cache-control", "no-cache"),)) is None
    assert entry((("Cache-Control", "max-age=0"),)) is None
    assert make_entry(status=500, headers=(), body=b"", spec_ttl=None, default_ttl=30,
                      stale_if_error=0, now=NOW) is None  # fmt: skip
    assert entry() is not None


def test_only_idempotent_specs_whose_policy_allows_it_are_cacheable() -> None:
    assert is_cacheable_spec(specs.USAGE_SUMMARY)
    assert not is_cacheable_spec(specs.UPDATE_USAGE)


def test_must_revalidate_forbids_serving_stale() -> None:
    assert stale_window(CacheControl(must_revalidate=True), 60.0) == 0.0
    assert stale_window(CacheControl(), 60.0) == 60.0
    made = entry((("Cache-Control", "max-age=10, must-revalidate"),), stale_if_error=60.0)
    assert made is not None
    assert classify(made, NOW + 11) is Lookup.EXPIRED  # type: ignore[arg-type]


@given(
    ttl=st.floats(min_value=0.001, max_value=1e6),
    window=st.floats(min_value=0.0, max_value=1e6),
    elapsed=st.floats(min_value=0.0, max_value=3e6),
)
def test_an_entry_is_fresh_then_stale_then_expired(
    ttl: float, window: float, elapsed: float
) -> None:
    made = make_entry(status=200, headers=(), body=b"1", spec_ttl=None, default_ttl=ttl,
                      stale_if_error=window, now=NOW)  # fmt: skip
    assert made is not None
    state = classify(made, NOW + elapsed)
    if NOW + elapsed < made.expires_at:
        assert state is Lookup.FRESH
    elif NOW + elapsed < made.stale_until:
        assert state is Lookup.STALE
    else:
        assert state is Lookup.EXPIRED
    # time only moves an entry forward through the states
    later = classify(made, NOW + elapsed + 1.0)
    order = [Lookup.FRESH, Lookup.STALE, Lookup.EXPIRED]
    assert order.index(later) >= order.index(state)


def test_only_server_failures_allow_a_stale_answer() -> None:
    kw = {"status": 503, "method": "GET", "url": "u"}
    assert is_server_failure(ServerError(**kw))
    assert is_server_failure(TransportError("x", request_sent=True))
    assert is_server_failure(GeoboxTimeoutError("x"))
    assert is_server_failure(CircuitOpenError("x", host="h", retry_in=1.0))
    assert not is_server_failure(AuthorizationError(**{**kw, "status": 403}))
    assert not is_server_failure(RateLimitError(**{**kw, "status": 429}))
    assert not is_server_failure(ValueError("x"))


pairs = st.lists(
    st.tuples(st.sampled_from(["eid", "scale", "param", "limit", "user_id"]), st.text(max_size=5)),
    max_size=5,
    unique_by=lambda p: p[0],
)


@given(params=pairs, data=st.data())
def test_keys_ignore_parameter_order_and_the_apikey(
    params: list[tuple[str, str]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(params))
    base = {"identity": "apikey:abc", "method": "GET", "url": "http://h/v1/usage/api"}
    key = cache_key(params=params, **base)
    assert cache_key(params=shuffled, **base) == key
    assert cache_key(params=[*shuffled, ("apikey", "secret-key-1")], **base) == key
    assert "secret-key-1" not in cache_key(params=[("apikey", "secret-key-1")], **base)


def test_keys_differ_by_identity_method_url_and_query() -> None:
    base = {"identity": "a", "method": "GET", "url": "http://h/v1/usage/api", "params": ()}
    key = cache_key(**base)  # type: ignore[arg-type]
    assert cache_key(**{**base, "identity": "b"}) != key  # type: ignore[arg-type]
    assert cache_key(**{**base, "method": "HEAD"}) != key  # type: ignore[arg-type]
    assert cache_key(**{**base, "url": "http://other/v1/usage/api"}) != key  # type: ignore[arg-type]
    assert cache_key(**{**base, "params": (("limit", "1"),)}) != key  # type: ignore[arg-type]


def test_an_api_key_given_as_eid_is_keyed_by_digest_never_by_value() -> None:
    def key(eid: str) -> str:
        params = (("eid", eid), ("scale", "day"), ("param", "calls"))
        return cache_key(identity="id", method="GET", url="https://h/v1/usage/api", params=params)

    first, second = key("gbx_secret_one"), key("gbx_secret_two")
    assert first != second
    assert "gbx_secret" not in first + second
    assert "eid=***" in first
    assert key("7") == "id GET https://h/v1/usage/api?eid=7&param=calls&scale=day"
