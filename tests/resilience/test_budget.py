"""The retry budget: a sliding 10 s window, ratio of requests plus a floor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geobox_usage.resilience import InMemoryRetryBudgetStore, RetryBudget


def test_floor_allows_min_per_s_times_window_without_requests() -> None:
    budget = RetryBudget(0.2, 1.0)
    assert sum(budget.try_spend(0.0) for _ in range(20)) == 10


def test_ratio_of_recent_requests() -> None:
    budget = RetryBudget(0.2, 0.0)
    for _ in range(100):
        budget.record_request(1.0)
    assert sum(budget.try_spend(1.5) for _ in range(50)) == 20
    assert budget.spent(1.5) == 20


def test_requests_and_retries_leave_the_window_after_ten_seconds() -> None:
    budget = RetryBudget(0.5, 0.0)
    for _ in range(10):
        budget.record_request(0.0)
    assert sum(budget.try_spend(0.1) for _ in range(10)) == 5
    assert not budget.try_spend(9.0)
    assert budget.allowance(10.5) == 0  # the requests aged out
    for _ in range(10):
        budget.record_request(10.5)
    assert sum(budget.try_spend(10.6) for _ in range(10)) == 5  # old retries aged out too


def test_zero_budget_allows_nothing() -> None:
    budget = RetryBudget(0.0, 0.0)
    budget.record_request(0.0)
    assert not budget.try_spend(0.0)


@pytest.mark.parametrize(("ratio", "floor"), [(-0.1, 0), (1.1, 0), (0.1, -1)])
def test_wrong_settings(ratio: float, floor: float) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryBudget(ratio, floor)


async def test_in_memory_store_spends_from_its_budget() -> None:
    store = InMemoryRetryBudgetStore(RetryBudget(0.0, 0.1))
    store.record_request(0.0)
    assert await store.try_spend(0.0)
    assert not await store.try_spend(0.0)


@given(
    events=st.lists(
        st.tuples(st.floats(0, 30), st.booleans()),  # (time step, is a retry)
        max_size=300,
    ),
    ratio=st.floats(0, 1),
    floor=st.floats(0, 3),
)
def test_a_retry_is_granted_exactly_when_the_window_allows_it(
    events: list[tuple[float, bool]], ratio: float, floor: float
) -> None:
    budget = RetryBudget(ratio, floor, window=10.0, buckets=50)
    now = 0.0
    requests: list[float] = []
    for step, is_retry in events:
        now += step / 10
        if not is_retry:
            budget.record_request(now)
            requests.append(now)
            continue
        before = budget.spent(now)
        allowance = budget.allowance(now)
        granted = budget.try_spend(now)
        assert granted is (before + 1 <= allowance)
        assert budget.spent(now) == before + granted
        # The allowance counts only requests of the last 10 s (to bucket resolution).
        recent = sum(1 for t in requests if t > now - 10.0 - 0.2)
        old_enough = sum(1 for t in requests if t > now - 10.0 + 0.2)
        assert ratio * old_enough - 1e-9 <= allowance - floor * 10.0 <= ratio * recent + 1e-9
