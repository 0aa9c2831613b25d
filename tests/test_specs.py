"""The operations' declarations: what the pipeline relies on when it reads a spec."""

from __future__ import annotations

import dataclasses

import pytest

from geobox_usage import CachePolicy, RequestSpec, specs
from geobox_usage._spec import DecodeProblem, decode_number, decode_object, decode_object_list


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
    ("decode", "body", "message"),
    [
        (decode_object, b"[]", "expected a JSON object, got list"),
        (decode_object, b'{"a": ', "body is not valid JSON"),
        (decode_object_list, b"{}", "expected a JSON array, got dict"),
        (decode_object_list, b"[1]", "expected objects in the array, item 0 is 1"),
        (decode_number, b"true", "expected a JSON number, got True"),
        (decode_number, b'"12"', "expected a JSON number, got '12'"),
        (decode_number, b"\xff", "body is not valid JSON"),
    ],
)
def test_decoders_check_the_shape(decode: object, body: bytes, message: str) -> None:
    with pytest.raises(DecodeProblem) as caught:
        decode(body)  # type: ignore[operator]
    assert message in str(caught.value)


def test_decoders_return_the_value() -> None:
    assert decode_number(b"12") == 12.0
    assert isinstance(decode_number(b"12"), float)
    assert decode_object_list(b'[{"time": "t", "value": 1}]') == [{"time": "t", "value": 1}]
    assert specs.USER.decode(b'{"id": 7, "username": "demo"}')["id"] == 7
    with pytest.raises(DecodeProblem, match="integer 'id'"):
        specs.USER.decode(b'{"id": "7"}')
    with pytest.raises(DecodeProblem, match="string 'key'"):
        specs.APIKEY.decode(b'{"id": 3}')
