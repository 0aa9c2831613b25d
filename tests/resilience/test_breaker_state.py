"""The breaker state machine: closed → open → half-open → closed / open."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from geobox_usage.resilience import (
    BreakerState,
    CircuitState,
    InMemoryBreakerStore,
    Outcome,
)
from geobox_usage.resilience._breaker_state import admit, record

CLOSED, OPEN, HALF = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def fail(state: BreakerState, now: float = 0.0, probe: bool = False) -> BreakerState:
    return record(state, Outcome.FAILURE, now, probe=probe, threshold=3)


def test_opens_after_threshold_consecutive_failures_only() -> None:
    state = fail(fail(BreakerState()))
    state = record(state, Outcome.SUCCESS, 0, probe=False, threshold=3)
    assert state == BreakerState()
    state = fail(fail(fail(state, 1), 2), 3)
    assert state == BreakerState(OPEN, 3, opened_at=3)


def test_neutral_outcomes_neither_count_nor_reset() -> None:
    state = fail(BreakerState())
    assert record(state, Outcome.NEUTRAL, 1, probe=False, threshold=3) == state


def test_open_refuses_until_cooldown_then_lets_one_probe_through() -> None:
    state = BreakerState(OPEN, 3, opened_at=10.0)
    same, refused = admit(state, 14.0, cooldown=5.0)
    assert same == state
    assert not refused.allowed
    assert refused.retry_in == 1.0
    half, probe = admit(state, 15.0, cooldown=5.0)
    assert half.state is HALF
    assert probe.allowed
    assert probe.probe
    _, second = admit(half, 15.0, cooldown=5.0)
    assert not second.allowed


def test_probe_success_closes_and_failure_reopens() -> None:
    half, _ = admit(BreakerState(OPEN, 3, opened_at=0), 10, cooldown=5)
    assert record(half, Outcome.SUCCESS, 11, probe=True, threshold=3) == BreakerState()
    assert fail(half, 11, probe=True) == BreakerState(OPEN, 4, opened_at=11)


def test_a_neutral_probe_frees_the_slot_for_the_next_call() -> None:
    half, _ = admit(BreakerState(OPEN, 3, opened_at=0), 10, cooldown=5)
    freed = record(half, Outcome.NEUTRAL, 11, probe=True, threshold=3)
    assert freed.state is HALF
    assert not freed.probing
    _, again = admit(freed, 11, cooldown=5)
    assert again.probe


def test_late_calls_do_not_decide_an_open_circuit() -> None:
    half, _ = admit(BreakerState(OPEN, 3, opened_at=0), 10, cooldown=5)
    assert record(half, Outcome.SUCCESS, 11, probe=False, threshold=3) == half
    opened = BreakerState(OPEN, 3, opened_at=0)
    assert record(opened, Outcome.SUCCESS, 1, probe=False, threshold=3) == opened


@given(
    st.lists(
        st.tuples(st.sampled_from(["admit", *Outcome]), st.floats(0, 3)),
        max_size=200,
    )
)
def test_at_most_one_probe_is_ever_in_flight(steps: list[tuple[object, float]]) -> None:
    state, now = BreakerState(), 0.0
    probes_out = 0
    for step, dt in steps:
        now += dt
        if step == "admit":
            state, admission = admit(state, now, cooldown=1.0)
            probes_out += admission.probe
            if state.state is OPEN:
                assert not admission.allowed or admission.probe
        elif isinstance(step, Outcome):
            was_probe = probes_out > 0
            state = record(state, step, now, probe=was_probe, threshold=2)
            probes_out = max(0, probes_out - 1)
        assert probes_out <= 1
        assert state.probing is (state.state is HALF and probes_out == 1) or not state.probing
        assert state.state is not CLOSED or not state.probing


async def test_in_memory_store_reports_transitions() -> None:
    store = InMemoryBreakerStore(failure_threshold=2, cooldown=1.0)
    assert await store.record("h", Outcome.FAILURE, 0.0, probe=False) is None
    change = await store.record("h", Outcome.FAILURE, 0.1, probe=False)
    assert change is not None
    assert (change.old, change.new, change.failures) == (CLOSED, OPEN, 2)
    admission, _ = await store.admit("h", 0.5)
    assert not admission.allowed
    admission, change = await store.admit("h", 1.2)
    assert admission.probe
    assert change is not None
    assert change.new is HALF
    change = await store.record("h", Outcome.SUCCESS, 1.3, probe=True)
    assert change is not None
    assert change.new is CLOSED
    assert await store.state("h") == BreakerState()
    assert await store.state("other") == BreakerState()
