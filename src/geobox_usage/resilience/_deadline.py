"""Call deadlines enforced by one timer for all the calls in flight, not one per call.

``asyncio.timeout`` arms (and cancels) a timer handle per call, which the event loop
keeps in its heap until the handle's time comes: at thousands of calls per second that
is a large part of the pipeline's cost, for deadlines that almost never expire. A
:class:`DeadlineWatch` keeps the calls in flight in a set and one timer set for the
earliest deadline; when it fires it cancels the calls past their deadline and is set
again for the earliest of the rest. A call that ends costs a set insertion and removal.

The cancellation follows ``asyncio.timeout``'s rules: the watched task is cancelled,
and the call that sees the :class:`asyncio.CancelledError` turns it into a timeout
only if its guard expired and no one else cancelled the task meanwhile
(``task.uncancel()`` falls back to the count found on entry).
"""

from __future__ import annotations

import asyncio
import math
from typing import Final

__all__ = ["DeadlineGuard", "DeadlineWatch"]

_EARLY: Final = 1e-6
"""A guard this close to its deadline when the timer fires counts as expired (the
event loop runs a timer up to its clock's resolution early)."""


class DeadlineGuard:
    """One call under watch.

    Attributes:
        task: the task running the call (cancelled when the deadline passes).
        at: the deadline, on the event loop's clock.
        cancelling: the task's cancellation count when the call started.
        expired: whether the watch cancelled the task for this deadline.
    """

    __slots__ = ("at", "cancelling", "expired", "settled", "task")

    def __init__(self, task: asyncio.Task[object], at: float, cancelling: int) -> None:
        self.task = task
        self.at = at
        self.cancelling = cancelling
        self.expired = False
        self.settled = False

    def timed_out(self) -> bool:
        """Whether the call's cancellation is this deadline's and no one else's.

        Call it where the call ends with :class:`asyncio.CancelledError`: it takes back
        the cancellation the watch requested, as ``asyncio.timeout`` does.
        """
        if not self.expired or self.settled:
            return False
        self.settled = True
        return self.task.uncancel() <= self.cancelling


class DeadlineWatch:
    """Cancels each watched call that is still running at its deadline."""

    __slots__ = ("_guards", "_timer", "_timer_at")

    def __init__(self) -> None:
        self._guards: set[DeadlineGuard] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def __len__(self) -> int:
        """How many calls are under watch."""
        return len(self._guards)

    def enter(self, seconds: float) -> DeadlineGuard:
        """Watch the current task's call for ``seconds`` from now.

        Raises:
            RuntimeError: not called from a task of a running event loop.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:  # pragma: no cover - asyncio runs every coroutine in a task
            raise RuntimeError("a deadline can only be watched inside an asyncio task")
        at = loop.time() + seconds
        guard = DeadlineGuard(task, at, task.cancelling())
        self._guards.add(guard)
        if at < self._timer_at:
            self._arm(loop, at)
        return guard

    def leave(self, guard: DeadlineGuard) -> None:
        """Stop watching ``guard``'s call (it ended, one way or another).

        A cancellation the watch requested and no one took back (the call ended
        otherwise than by it) is taken back here, as ``asyncio.timeout`` does.
        """
        self._guards.discard(guard)
        if guard.expired and not guard.settled:
            guard.settled = True
            guard.task.uncancel()

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(at, self._fire, loop)
        self._timer_at = at

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._timer_at = math.inf
        now = loop.time() + _EARLY
        earliest = math.inf
        for guard in tuple(self._guards):
            if guard.at <= now:
                self._guards.discard(guard)
                guard.expired = True
                guard.task.cancel()
            elif guard.at < earliest:
                earliest = guard.at
        if earliest < math.inf:
            self._arm(loop, earliest)

    def close(self) -> None:
        """Stop the timer (the client is closing; its calls end on their own)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = math.inf

    def __repr__(self) -> str:
        return f"DeadlineWatch(calls={len(self._guards)})"
