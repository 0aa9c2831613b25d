"""The operations' declarations: what the pipeline relies on when it reads a spec."""

from __future__ import annotations

import dataclasses
import json

import pytest

from geobox_usage import CachePolicy, RequestSpec, specs
from geobox_usage._spec import DecodeProblem, decode_json, decode_object


def test_only_update_usage_changes_state_and_it_is_never_cached() -> None:
    changing = [s for s in specs.ALL_SPECS if not s.idempotent]
    assert changing == [specs.UPDATE_USAGE]
    assert specs.UPDATE_USAGE.method == "POST"
    assert not specs.UPDATE_USAGE.cache.store
    assert specs.UPDATE_USAGE.cache.invalidates == {
        specs.API_USAGE.name,
        specs.PROCESS_USAGE.name,
        specs.USAGE_SUMMARY.name,
    }


def test_every_read_is_idempotent_cacheable_and_relative() -> None:
    for spec in specs.ALL_SPECS:
        if spec is specs.UPDATE_USAGE:
            continue
        assert (spec.method, spec.idempotent, spec.cache.store) == ("GET", True, True), spec
        assert not spec.path.startswith("/")


def test_specs_are_frozen_values() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        specs.USAGE_SUMMARY.idempotent = False  # type: ignore[misc]


def test_a_spec_that_caches_a_state_change_is_refused() -> None:
    with pytest.raises(ValueError, match="only idempotent operations may be cached"):
        RequestSpec("x", "POST", "x", idempotent=False, decode=decode_object,
                    cache=CachePolicy(store=True))  # fmt: skip
    with pytest.raises(ValueError, match="path must be relative"):
        RequestSpec("x", "GET", "/x", idempotent=True, decode=decode_object)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a": ', "body is not valid JSON"),
        (b"\xff", "body is not valid JSON"),
        (b"<html>502</html>", "body is not valid JSON"),
        (b"", "body is not valid JSON"),
        (b"NaN", "body holds NaN, which is not a JSON number"),
        (b"[1, -Infinity]", "body holds -Infinity, which is not a JSON number"),
        (b"1e999", "a number too large for a float"),
        (b"9" * 5000, "body is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
    ids=["cut", "utf8", "html", "empty", "nan", "infinity", "huge-exponent", "5000-digits",
         "deep"],
)  # fmt: skip
def test_what_is_not_json_is_a_decode_problem(body: bytes, message: str) -> None:
    with pytest.raises(DecodeProblem) as caught:
        decode_json(body)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [b'[["2025-07-07T00:00:00", 21]]', b"23.458457", b"0", b'{"remaining_days": null}',
     b'{"unexpected": [1, {"shape": true}]}', b'"a string"', b"null", b"[]"],
)  # fmt: skip
def test_any_json_is_returned_as_the_server_sent_it(body: bytes) -> None:
    assert decode_json(body) == json.loads(body)
    assert type(decode_json(body)) is type(json.loads(body))


def test_the_read_operations_return_whatever_json_arrives() -> None:
    for spec in (specs.API_USAGE, specs.PROCESS_USAGE, specs.USAGE_SUMMARY, specs.UPDATE_USAGE):
        assert spec.decode(b'{"odd": [1, 2]}') == {"odd": [1, 2]}, spec.name
        assert spec.decode(b"0") == 0, spec.name


def test_users_and_keys_need_what_the_client_reads() -> None:
    assert specs.USER.decode(b'{"id": 7, "username": "demo"}')["id"] == 7
    with pytest.raises(DecodeProblem, match="expected a JSON object, got list"):
        specs.USER.decode(b"[]")
    with pytest.raises(DecodeProblem, match="integer 'id'"):
        specs.USER.decode(b'{"id": "7"}')
    with pytest.raises(DecodeProblem, match="string 'key'"):
        specs.APIKEY.decode(b'{"id": 3}')


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://api.geobox.ir/v1/usage/api", "/v1/usage/api"),
        ("http://127.0.0.1:8080/v1/users/7/", "/v1/users/7/"),
        ("https://host", "/"),
        ("/relative/only", "/relative/only"),
    ],
)
def test_a_requests_path_is_its_urls_path_however_many_urls_were_seen(url: str, path: str) -> None:
    from geobox_usage._messages import _MAX_PATHS, Request

    # Past the memo's bound (ids in paths make new URLs) the answer stays right.
    for n in range(_MAX_PATHS + 5):
        assert Request(specs.USER, f"https://h/v1/users/{n}/").path == f"/v1/users/{n}/"
    assert Request(specs.USAGE_SUMMARY, url).path == path
    assert Request(specs.USAGE_SUMMARY, url).path == path  # remembered: the same answer
