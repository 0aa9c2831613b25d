"""The backoff schedule: exponential ceiling, full jitter, bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geobox_usage.resilience import backoff_ceiling, full_jitter

attempts = st.integers(min_value=1, max_value=10_000)
seconds = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
draws = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


def test_ceiling_doubles_from_base_up_to_cap() -> None:
    assert [backoff_ceiling(n, 0.2, 1.0) for n in range(1, 6)] == [0.2, 0.4, 0.8, 1.0, 1.0]


@given(attempts, seconds, seconds, draws)
def test_jittered_wait_is_within_zero_and_the_ceiling(
    attempt: int, base: float, extra: float, draw: float
) -> None:
    cap = base + extra
    wait = full_jitter(attempt, base, cap, draw)
    assert 0.0 <= wait <= backoff_ceiling(attempt, base, cap) <= cap


@given(attempts, seconds, seconds)
def test_ceiling_never_decreases(attempt: int, base: float, extra: float) -> None:
    cap = base + extra
    assert backoff_ceiling(attempt, base, cap) <= backoff_ceiling(attempt + 1, base, cap)


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "draw"), [(0, 1, 1, 0.5), (1, -1, 1, 0.5), (1, 1, 1, 1.0)]
)
def test_wrong_arguments_are_refused(attempt: int, base: float, cap: float, draw: float) -> None:
    with pytest.raises(ValueError, match=r"must|start"):
        full_jitter(attempt, base, cap, draw)
