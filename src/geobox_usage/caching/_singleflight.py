"""Single flight: concurrent calls with the same key share one execution.

The first caller of a key (the leader) runs its own work inline, in its own task: a
lone caller pays for one dict lookup and nothing else (no task, no future). Callers
that arrive while it runs (followers) wait for its outcome behind
:func:`asyncio.shield`, so a follower that is cancelled leaves alone, and the leader's
work is never cancelled on a follower's behalf.

When the leader itself is cancelled, its followers are not: they wake up and the first
of them takes over, running its own work; the rest follow the new leader. No follower
is left waiting and none receives a ``CancelledError`` it did not ask for. An error of
the leader's work is the outcome of every follower of that flight; each follower gets
its own copy of a :class:`~geobox_usage.GeoboxError` (same type, message, request id
and cause), so what is set on one caller's error never shows in another's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from geobox_usage.errors import GeoboxError, copy_for_caller

__all__ = ["SingleFlight"]

T = TypeVar("T")

_Outcome = tuple[T | None, BaseException | None] | None
"""``(value, None)``, ``(None, error)``, or ``None`` for "the leader left: take over"."""


class _Flight(list["asyncio.Future[_Outcome[T]]"]):
    """One leader's execution: empty while no one follows it; the first follower puts
    in it the future every follower waits on, so a lone caller allocates no future.

    A list, compared by identity here, because building one runs no Python code.
    """

    __slots__ = ()


class SingleFlight(Generic[T]):
    """Runs at most one execution per key at a time; concurrent callers share it."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[Hashable, _Flight[T]] = {}

    def __len__(self) -> int:
        """How many keys have an execution in flight."""
        return len(self._flights)

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Run ``work`` for ``key``, or share the outcome of the execution in flight.

        Args:
            key: what makes two calls the same call.
            work: this caller's own work; run only if it leads (or takes over).

        Returns:
            The value and whether this caller ran the work itself (``True``) or shared
            another caller's (``False``). A shared value is the same object for every
            sharer: copy it before handing it out if callers may mutate it.

        Raises:
            BaseException: whatever the work raised (a copy, for a follower, when it is
                a :class:`~geobox_usage.GeoboxError`).
        """
        flights = self._flights
        while True:
            flight = flights.get(key)
            if flight is None:  # lead, inline: no future, no task, no extra frame
                flight = flights[key] = _Flight()
                try:
                    value = await work()
                except BaseException as exc:
                    self.failed(key, flight, exc)
                    raise
                self.succeeded(key, flight, value)
                return value, True
            outcome = await self._follow(flight)
            if outcome is None:
                continue  # the leader was cancelled: lead now, or follow whoever does
            shared, error = outcome
            if isinstance(error, GeoboxError):
                raise copy_for_caller(error) from error.__cause__
            if error is not None:
                raise error
            return shared, False  # type: ignore[return-value]

    def lead(self, key: Hashable) -> _Flight[T] | None:
        """Lead ``key``'s execution if none is in flight: what :meth:`run` does first,
        for a caller that runs its work in its own frame (no coroutine for ``run``).

        Returns the flight to settle with :meth:`succeeded` or :meth:`failed` once the
        work ends, whatever way it ends; ``None`` when an execution is in flight
        (call :meth:`run` to follow it).
        """
        flights = self._flights
        if key in flights:
            return None
        flight: _Flight[T] = _Flight()
        flights[key] = flight
        return flight

    def succeeded(self, key: Hashable, flight: _Flight[T], value: T) -> None:
        """End a led flight with ``value``: its followers share it."""
        self._finish(key, flight, (value, None))

    def failed(self, key: Hashable, flight: _Flight[T], error: BaseException) -> None:
        """End a led flight with ``error``: its followers raise it (an ``Exception``), or
        take over when the leader was cancelled or interrupted (never fail others)."""
        self._finish(key, flight, (None, error) if isinstance(error, Exception) else None)

    @staticmethod
    async def _follow(flight: _Flight[T]) -> _Outcome[T]:
        if not flight:
            flight.append(asyncio.get_running_loop().create_future())
        return await asyncio.shield(flight[0])

    def _finish(self, key: Hashable, flight: _Flight[T], outcome: _Outcome[T]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if flight and not flight[0].done():
            flight[0].set_result(outcome)
