"""AIMD: multiplicative decrease on 429, additive increase after successes."""

from __future__ import annotations

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


def test_pause_from_headers() -> None:
    def pause(headers: CIMultiDict[str] | None) -> float | None:
        return pause_from_headers(headers, now=1_800_000_000.0, max_pause=60.0)

    def h(**kv: str) -> CIMultiDict[str]:
        return CIMultiDict({k.replace("_", "-"): v for k, v in kv.items()})

    assert pause(h(X_RateLimit_Remaining="0", X_RateLimit_Reset="1.5")) == 1.5
    assert pause(h(X_RateLimit_Remaining="3", X_RateLimit_Reset="1.5")) is None
    assert pause(h(X_RateLimit_Remaining="0", X_RateLimit_Reset="soon")) is None
    assert pause(h(X_RateLimit_Remaining="0")) is None
    assert pause(None) is None


def test_a_large_reset_is_an_epoch_time_and_every_pause_is_capped() -> None:
    def pause(reset: str) -> float | None:
        headers = CIMultiDict({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
        return pause_from_headers(headers, now=1_800_000_000.0, max_pause=60.0)

    assert pause("1800000012.5") == 12.5  # an epoch time 12.5 s ahead
    assert pause("1000000000") is None  # an epoch time in the past (2001)
    assert pause("1799999999") is None
    assert pause("1800086400") == 60.0  # a day ahead: capped
    assert pause("3600") == 60.0  # an hour as seconds: capped
    assert pause("inf") is None
    assert pause("-5") is None


def test_a_429_at_the_floor_starts_no_new_round() -> None:
    state = AimdState(None, MIN_RATE, 100.0, epoch=7)
    assert on_throttle(state, sent_epoch=7, measured=500.0) is state
