"""AIMD: multiplicative decrease on 429, additive increase after successes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from geobox_usage.resilience import AimdState, RateMeter, pause_from_headers
from geobox_usage.resilience._aimd import MIN_RATE, RECOVERY_STEPS, on_success, on_throttle


def test_no_limit_cuts_from_the_measured_rate_then_recovers_to_no_limit() -> None:
    state = AimdState.initial(None)
    cut = on_throttle(state, sent_epoch=0, measured=200.0)
    assert (cut.rate, cut.target, cut.epoch) == (100.0, 200.0, 1)
    for _ in range(RECOVERY_STEPS // 2 - 1):
        cut = on_success(cut)
        assert cut.recovering
    restored = on_success(cut)
    assert restored.rate is None
    assert not restored.recovering


def test_configured_rate_is_the_ceiling() -> None:
    state = on_throttle(AimdState.initial(10.0), sent_epoch=0, measured=999.0)
    assert state.rate == 5.0
    for _ in range(RECOVERY_STEPS):
        state = on_success(state)
    assert state.rate == 10.0
    assert not state.recovering


def test_a_429_sent_before_the_last_cut_is_ignored() -> None:
    cut = on_throttle(AimdState.initial(100.0), sent_epoch=0, measured=0)
    assert on_throttle(cut, sent_epoch=0, measured=0) is cut
    assert on_throttle(cut, sent_epoch=1, measured=0).rate == 25.0


def test_rate_never_goes_below_the_floor_nor_rises_on_a_cut() -> None:
    state = AimdState.initial(0.5)
    assert on_throttle(state, sent_epoch=0, measured=0).rate == 0.5
    state = AimdState.initial(None)
    for epoch in range(30):
        state = on_throttle(state, sent_epoch=epoch, measured=1000.0)
    assert state.rate == MIN_RATE


@given(st.lists(st.booleans(), max_size=300), st.none() | st.floats(0.1, 1e4))
def test_rate_stays_between_floor_and_ceiling(events: list[bool], ceiling: float | None) -> None:
    state = AimdState.initial(ceiling)
    for throttled in events:
        if throttled:
            state = on_throttle(state, sent_epoch=state.epoch, measured=500.0)
        else:
            state = on_success(state)
        if state.rate is not None:
            assert state.rate >= min(MIN_RATE, ceiling or MIN_RATE)
            if ceiling is not None:
                assert state.rate <= ceiling
        else:
            assert ceiling is None
            assert not state.recovering


def test_meter_measures_recent_rate() -> None:
    meter = RateMeter(window=1.0, buckets=10)
    assert meter.rate(0.0) == 0.0
    for i in range(100):
        meter.tick(i / 100)  # 100 per second for one second
    assert 90 <= meter.rate(0.999) <= 110
    assert meter.rate(5.0) == 0.0


NOW = 1_800_000_000.0  # a wall-clock time, seconds since the epoch


def _pause(remaining: str | None, reset: str | None, max_pause: float = 60.0) -> float | None:
    headers: CIMultiDict[str] = CIMultiDict()
    if remaining is not None:
        headers["X-RateLimit-Remaining"] = remaining
    if reset is not None:
        headers["X-RateLimit-Reset"] = reset
    return pause_from_headers(headers, now=NOW, max_pause=max_pause)


@pytest.mark.parametrize(
    ("remaining", "reset", "pause"),
    [
        ("0", "1.5", 1.5),
        ("3", "1.5", None),
        ("0", "soon", None),
        ("0", None, None),
        ("0", "0", None),
        ("0", "-4", None),
        ("0", "nan", None),
        ("0", "inf", None),
        ("0", "3600", 60.0),  # capped at max_pause
        ("0", str(NOW + 2.5), 2.5),  # an epoch time, as many servers send
        ("0", "1000000000", None),  # an epoch time long past: nothing to wait for
        ("0", str(NOW + 10**9), 60.0),  # an absurd epoch time: capped
    ],
)
def test_pause_from_headers(remaining: str | None, reset: str | None, pause: float | None) -> None:
    got = _pause(remaining, reset)
    assert got is None if pause is None else got == pytest.approx(pause)
    assert pause_from_headers(None, now=NOW, max_pause=60.0) is None
