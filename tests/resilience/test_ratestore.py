"""The rate limiter's in-memory store: the sliding window, sub-1 rates, AIMD, pauses."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from geobox_usage import RateLimitConfig
from geobox_usage.resilience._ratestore import (
    InMemoryRateLimitStore,
    SlidingWindow,
    window_shape,
)
from tests.stages._helpers import FakeClock


@given(
    st.integers(1, 20),
    st.floats(0.01, 5.0),
    st.lists(st.floats(0.0, 0.5), min_size=1, max_size=200),
)
def test_never_more_than_limit_sends_in_any_span(
    limit: int, span: float, gaps: list[float]
) -> None:
    window = SlidingWindow(limit, span)
    now, sent = 0.0, []
    for gap in gaps:
        now += gap
        wait = window.try_take(now)
        if wait == 0.0:
            sent.append(now)
        else:
            assert wait > 0
            assert window.try_take(now + wait) == 0.0  # the wait named is enough
            sent.append(now + wait)
            now += wait
    for i, start in enumerate(sent):
        assert sum(1 for t in sent[i:] if t < start + span - 1e-9) <= limit


def test_window_shapes() -> None:
    assert window_shape(40.0, RateLimitConfig(rate=40, period=1.0)) == (40, 1.0)
    assert window_shape(0.5, RateLimitConfig(rate=0.5, period=1.0)) == (1, 2.0)
    assert window_shape(None, RateLimitConfig()) is None
    limit, span = window_shape(25.0, RateLimitConfig(rate=100, period=1.0)) or (0, 0.0)
    assert (limit, round(span, 6)) == (2, 0.08)  # a tenth of a second's worth, paced


async def test_the_store_follows_cuts_and_pauses() -> None:
    clock = FakeClock()
    store = InMemoryRateLimitStore(RateLimitConfig(rate=10, period=1.0), clock)
    for _ in range(10):
        assert await store.acquire() == 0.0
    assert 0.99 <= await store.acquire() <= 1.0
    cut = await store.throttled(0, 0.0)
    assert cut is not None and cut.rate == 5.0
    assert await store.throttled(0, 0.0) is None  # the same round
    clock.advance(1.0)
    assert await store.acquire() == 0.0
    assert 0.19 <= await store.acquire() <= 0.21  # paced at the cut rate: one per 0.2 s
    assert await store.pause(3.0)
    assert not await store.pause(1.0)  # never shortened
    assert 2.99 <= await store.acquire() <= 3.0
