"""Call deadlines enforced by one timer for all the calls in flight, not one per call.

``asyncio.timeout`` arms (and cancels) a timer handle per call, which the event loop
keeps in its heap until the handle's time comes: at thousands of calls per second that
is a large part of the pipeline's cost, for deadlines that almost never expire. A
:class:`DeadlineWatch` keeps the calls in flight in a dict and one timer set for the
earliest deadline; when it fires it cancels the calls past their deadline and is set
again for the earliest of the rest. A call that ends costs a dict insertion and removal.

The cancellation follows ``asyncio.timeout``'s rules: the watched task is cancelled,
and the call that sees the :class:`asyncio.CancelledError` turns it into a timeout
only if its guard expired and no one else cancelled the task meanwhile
(``task.uncancel()`` falls back to the count found on entry).
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Final

from geobox_usage._tasks import current_task

__all__ = ["DeadlineWatch"]

_EARLY: Final = 1e-6
"""A guard this close to its deadline when the timer fires counts as expired (the
event loop runs a timer up to its clock's resolution early)."""

_Task = asyncio.Task[object]


class DeadlineWatch:
    """Cancels each watched call that is still running at its deadline.

    A call is watched under a guard, a number :meth:`enter` hands out and
    :meth:`timed_out` and :meth:`leave` take back: the watch keeps each guard's task,
    deadline and the task's cancellation count on entry in a dict, so watching a call
    builds no object of its own.
    """

    __slots__ = ("_expired", "_guards", "_keys", "_timer", "_timer_at")

    def __init__(self) -> None:
        self._guards: dict[int, tuple[_Task, float, int]] = {}
        # Guards whose deadline passed: their task and its cancellation count on entry,
        # until the call settles (``timed_out``) or leaves.
        self._expired: dict[int, tuple[_Task, int]] = {}
        self._keys = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def __len__(self) -> int:
        """How many calls are under watch."""
        return len(self._guards)

    def enter(self, seconds: float) -> int:
        """Watch the current task's call for ``seconds`` from now; its guard.

        Raises:
            RuntimeError: not called from a task of a running event loop.
        """
        loop = asyncio.get_running_loop()
        task = current_task(loop)
        if task is None:  # pragma: no cover - asyncio runs every coroutine in a task
            raise RuntimeError("a deadline can only be watched inside an asyncio task")
        at = loop.time() + seconds
        guard = next(self._keys)
        self._guards[guard] = (task, at, task.cancelling())
        if at < self._timer_at:
            self._arm(loop, at)
        return guard

    def timed_out(self, guard: int) -> bool:
        """Whether the call's cancellation is this deadline's and no one else's.

        Call it where the call ends with :class:`asyncio.CancelledError`: it takes back
        the cancellation the watch requested, as ``asyncio.timeout`` does.
        """
        fired = self._expired.pop(guard, None)
        if fired is None:
            return False
        task, cancelling = fired
        return task.uncancel() <= cancelling

    def leave(self, guard: int) -> None:
        """Stop watching ``guard``'s call (it ended, one way or another).

        A cancellation the watch requested and no one took back (the call ended
        otherwise than by it) is taken back here, as ``asyncio.timeout`` does.
        """
        if self._guards.pop(guard, None) is None:
            fired = self._expired.pop(guard, None)
            if fired is not None:
                fired[0].uncancel()

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
        guards = self._guards
        for guard, (task, at, cancelling) in tuple(guards.items()):
            if at <= now:
                del guards[guard]
                self._expired[guard] = (task, cancelling)
                task.cancel()
            elif at < earliest:
                earliest = at
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
