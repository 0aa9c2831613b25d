"""The circuit breaker as a pure state machine, and the store that keeps it per host.

States (``closed`` → ``open`` → ``half_open`` → ``closed`` or back to ``open``):

* ``closed``: calls pass. Each failure (transport error, timeout, 5xx) adds one to a
  count of consecutive failures; any other answer resets it. At ``failure_threshold``
  the circuit opens.
* ``open``: calls fail fast, nothing is sent, until ``cooldown`` has passed since it
  opened; the next call is then let through as the one *probe* (``half_open``).
* ``half_open``: only the probe is in flight; other calls fail fast. The probe's
  success closes the circuit, its failure opens it for another cooldown, and a neutral
  end (it was cancelled, or got a 429 or an undecodable body) frees the probe slot so
  that the next call probes instead. A half-open circuit can therefore never be left
  stuck by a probe that did not finish.

Only the probe decides in ``half_open``/``open``: a call admitted while the circuit was
still closed that ends late does not close or reopen it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

__all__ = [
    "Admission",
    "BreakerState",
    "BreakerStore",
    "CircuitState",
    "InMemoryBreakerStore",
    "Outcome",
    "Transition",
    "admit",
    "record",
]


class CircuitState(enum.Enum):
    """Where a host's circuit stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Outcome(enum.Enum):
    """How an admitted call ended, as far as the breaker cares."""

    SUCCESS = "success"  # the host answered (2xx, or a 4xx that proves it is up)
    FAILURE = "failure"  # transport error, timeout, 5xx
    NEUTRAL = "neutral"  # cancelled, 429, undecodable body: says nothing either way


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One host's breaker.

    Attributes:
        state: closed, open or half-open.
        failures: consecutive failures counted.
        opened_at: monotonic time the circuit last opened.
        probing: whether the half-open probe is in flight.
    """

    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a call may go through.

    Attributes:
        allowed: it may.
        probe: it is the half-open probe (its outcome decides the circuit).
        retry_in: when refused, seconds until a probe may be let through.
    """

    allowed: bool
    probe: bool = False
    retry_in: float = 0.0


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of a host's circuit state, reported as a ``geobox.breaker`` event.

    Attributes:
        old: the state before.
        new: the state after.
        failures: consecutive failures counted at the change.
    """

    old: CircuitState
    new: CircuitState
    failures: int


ALLOW = Admission(True)


def admit(state: BreakerState, now: float, *, cooldown: float) -> tuple[BreakerState, Admission]:
    """Decide whether a call starting at ``now`` may go through.

    Returns:
        The new state and the admission.
    """
    if state.state is CircuitState.CLOSED:
        return state, ALLOW
    if state.state is CircuitState.OPEN:
        ready_at = state.opened_at + cooldown
        if now < ready_at:
            return state, Admission(False, retry_in=ready_at - now)
        return replace(state, state=CircuitState.HALF_OPEN, probing=True), Admission(True, True)
    if state.probing:  # half-open, the probe is out: wait for its verdict
        return state, Admission(False, retry_in=0.0)
    return replace(state, probing=True), Admission(True, probe=True)


def record(
    state: BreakerState, outcome: Outcome, now: float, *, probe: bool, threshold: int
) -> BreakerState:
    """Account for an admitted call that ended with ``outcome`` at ``now``.

    Args:
        state: the host's state.
        outcome: how the call ended.
        now: the current monotonic time.
        probe: whether the call was admitted as the half-open probe.
        threshold: consecutive failures that open the circuit.
    """
    current = state.state
    if current is CircuitState.CLOSED:
        if outcome is Outcome.SUCCESS:
            return state if state.failures == 0 else replace(state, failures=0)
        if outcome is Outcome.FAILURE:
            failures = state.failures + 1
            if failures >= threshold:
                return BreakerState(CircuitState.OPEN, failures, opened_at=now)
            return replace(state, failures=failures)
        return state
    if not (probe and current is CircuitState.HALF_OPEN and state.probing):
        return state  # late calls admitted earlier do not decide an open circuit
    if outcome is Outcome.SUCCESS:
        return BreakerState()
    if outcome is Outcome.FAILURE:
        return BreakerState(CircuitState.OPEN, state.failures + 1, opened_at=now)
    return replace(state, probing=False)  # neutral: let the next call probe


@runtime_checkable
class BreakerStore(Protocol):
    """Where breaker state lives, per host; a shared store can span processes.

    A shared implementation applies :func:`admit` and :func:`record` atomically (in a
    Redis Lua script, say) so that processes agree on one probe.
    """

    async def admit(self, host: str, now: float) -> tuple[Admission, Transition | None]:
        """Admit or refuse a call to ``host``; the transition it caused, if any."""
        ...

    async def record(
        self, host: str, outcome: Outcome, now: float, *, probe: bool
    ) -> Transition | None:
        """Account for an admitted call's outcome; the transition it caused, if any."""
        ...

    async def state(self, host: str) -> BreakerState:
        """The host's current state (for inspection and tests)."""
        ...


class InMemoryBreakerStore:
    """The default :class:`BreakerStore`: a dict of host to state, for one client.

    Args:
        failure_threshold: consecutive failures that open a circuit.
        cooldown: seconds a circuit stays open before a probe.
    """

    __slots__ = ("_states", "cooldown", "failure_threshold")

    def __init__(self, failure_threshold: int, cooldown: float) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._states: dict[str, BreakerState] = {}

    async def admit(self, host: str, now: float) -> tuple[Admission, Transition | None]:
        """See :meth:`BreakerStore.admit`."""
        return self.admit_now(host, now)

    def admit_now(self, host: str, now: float) -> tuple[Admission, Transition | None]:
        """:meth:`admit` without a coroutine (an in-memory store never waits for I/O)."""
        old = self._states.get(host)
        if old is None or old.state is CircuitState.CLOSED:
            return ALLOW, None  # the hot path: nothing to change
        new, admission = admit(old, now, cooldown=self.cooldown)
        self._states[host] = new
        return admission, _transition(old, new)

    async def record(
        self, host: str, outcome: Outcome, now: float, *, probe: bool
    ) -> Transition | None:
        """See :meth:`BreakerStore.record`."""
        return self.record_now(host, outcome, now, probe=probe)

    def record_now(
        self, host: str, outcome: Outcome, now: float, *, probe: bool
    ) -> Transition | None:
        """:meth:`record` without a coroutine (an in-memory store never waits for I/O)."""
        old = self._states.get(host)
        if old is None:
            if outcome is not Outcome.FAILURE:
                return None  # the hot path: a success on a clean circuit
            old = BreakerState()
        new = record(old, outcome, now, probe=probe, threshold=self.failure_threshold)
        if new is not old:
            self._states[host] = new
        return _transition(old, new)

    async def state(self, host: str) -> BreakerState:
        """See :meth:`BreakerStore.state`."""
        return self._states.get(host, BreakerState())


def _transition(old: BreakerState, new: BreakerState) -> Transition | None:
    if old.state is new.state:
        return None
    return Transition(old.state, new.state, new.failures)
