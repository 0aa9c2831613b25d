"""The rate limit stage: a rate, a cap on requests in flight, AIMD on 429s, and pauses.

Every attempt (not a cache hit: the cache sits outside) passes, in order:

1. the rate limiter's store (:class:`~geobox_usage.resilience.RateLimitStore`, in
   memory unless a plugin shares it): at most ``rate`` sends in any ``period``, or the
   lower adaptive rate after 429s, and no send at all while a pause asked for by
   ``X-RateLimit-Remaining: 0`` lasts;
2. one of ``max_concurrency`` slots (a first-in, first-out semaphore), held while the
   attempt is in flight.

A call that finds a send free goes straight on: no task, no future. Otherwise it joins
one first-in, first-out queue, and a single pacer task asks the store again when the
store says a send will be free, or at once when the rate changes; each waiter is
released as a send is granted, so waiters always follow the *current* rate (never the
rate that was in force when they arrived). A waiter whose turn would come after its
call's deadline fails at once with :class:`~geobox_usage.ClientRateLimitError`
(``request_sent=False``: nothing was sent), as does a call arriving during a pause that
outlasts its deadline.

Adaptive mode (the pure rules are in :mod:`geobox_usage.resilience._aimd`): a 429 halves
the allowed rate (starting from the measured send rate when no rate is configured),
once per round; successes add it back step by step until the configured rate (or no
limit) is restored. Changes are ``geobox.ratelimit`` events: ``slowdown`` on a cut,
``speedup`` when the rate is restored, ``pause`` when the headers ask for one.

Everything acquired is released in ``finally``/``async with``: a cancelled attempt
gives back its slot at once, and a cancelled waiter leaves the queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

from geobox_usage._clock import Clock
from geobox_usage._messages import Request, Response
from geobox_usage.config import RateLimitConfig
from geobox_usage.errors import ClientRateLimitError, HTTPStatusError, RateLimitError
from geobox_usage.events import EventBus
from geobox_usage.hookspecs import hookimpl
from geobox_usage.pipeline import Handler, PipelineContext, PipelineStage, Slot
from geobox_usage.resilience._aimd import (
    REMAINING_HEADER,
    AimdState,
    RateMeter,
    pause_from_headers,
)
from geobox_usage.resilience._ratestore import InMemoryRateLimitStore, RateLimitStore

__all__ = ["RateLimitStage", "geobox_usage_stage"]

MAX_NAP: Final = 0.25
"""The longest the pacer sleeps before asking the store again: a shared store's rate
may be changed by another process without this one hearing of it."""

DEADLINE_MARGIN: Final = 0.005
"""A waiter gives up this many seconds before its deadline, so that its own refusal
(nothing sent) and not the retry stage's deadline timeout reports it."""


class _Slots:
    """The concurrency cap: a count of free slots and a first-in, first-out queue.

    What :class:`asyncio.Semaphore` does, with a synchronous :meth:`try_take` for the
    common case of a free slot and nobody queued (no coroutine per attempt). A slot
    given back while callers wait is handed to the first of them directly, so a
    newcomer can never take it first.
    """

    __slots__ = ("_waiters", "free", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        """Take a slot if one is free and nobody is queued for it."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    async def take(self) -> None:
        """Wait for a slot (first come, first served); cancellable at any point."""
        if self.try_take():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.give_back()  # handed a slot, then cancelled before using it
            else:
                future.cancel()  # ``give_back`` skips it
            raise

    def give_back(self) -> None:
        """Return a slot: to the first caller still waiting, else to the free count."""
        waiters = self._waiters
        while waiters:
            future = waiters.popleft()
            if not future.done():
                future.set_result(None)
                return
        self.free += 1


class _Waiter:
    """A call queued for a send: its future resolves to ``None`` (go) or to the
    seconds it would still have to wait (too late for its deadline: refuse)."""

    __slots__ = ("deadline", "future")

    def __init__(self, future: asyncio.Future[float | None], deadline: float | None) -> None:
        self.future = future
        self.deadline = deadline


class RateLimitStage:
    """Paces attempts and caps how many are in flight.

    Args:
        config: the rate limit settings.
        clock: for waits, pauses and the rate meter.
        events: where ``geobox.ratelimit`` events go.
        store: the limiter's state; an :class:`InMemoryRateLimitStore` by default.
    """

    __slots__ = (
        "_acquire_now",
        "_changed",
        "_clock",
        "_events",
        "_meter",
        "_pacer",
        "_queue",
        "_seen",
        "_slots",
        "config",
        "store",
    )

    def __init__(
        self,
        config: RateLimitConfig,
        clock: Clock,
        events: EventBus,
        store: RateLimitStore | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._events = events
        self.store: RateLimitStore = (
            store if store is not None else InMemoryRateLimitStore(config, clock)
        )
        self._slots = _Slots(config.max_concurrency)
        self._meter = RateMeter() if config.adaptive and config.rate is None else None
        self._seen = self.store.state
        self._queue: deque[_Waiter] = deque()
        self._pacer: asyncio.Task[None] | None = None
        self._changed: asyncio.Event | None = None
        # The built-in in-memory store answers without I/O: asked directly, with no
        # coroutine per call (exactly it: a subclass may override ``acquire``).
        self._acquire_now: Callable[[], float] | None = (
            self.store.acquire_now if type(self.store) is InMemoryRateLimitStore else None
        )

    @property
    def rate(self) -> float | None:
        """The rate now allowed, in requests per second (``None``: no limit)."""
        state = self.store.state
        if state is not None:
            return state.rate
        return self.config.rate / self.config.period if self.config.rate else None

    @property
    def in_flight(self) -> int:
        """How many attempts hold a concurrency slot now."""
        return self._slots.limit - self._slots.free

    @property
    def waiting(self) -> int:
        """How many calls are queued for a send."""
        return len(self._queue)

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        """Wait for a send and a free slot; then send, and learn from the answer."""
        if self._queue:
            await self._wait_turn(request, None)
        else:
            acquire_now = self._acquire_now
            wait = acquire_now() if acquire_now is not None else await self.store.acquire()
            if wait > 0.0:
                await self._wait_turn(request, wait)
        slots = self._slots
        if not slots.try_take():
            await self._wait_for_slot(request)
        try:
            store = self.store
            state = store.state
            epoch = state.epoch if state is not None else 0
            if self._meter is not None:
                self._meter.tick(self._clock.monotonic())
            try:
                response = await call_next(request)
            except HTTPStatusError as exc:
                await self._observe(exc.headers)
                if isinstance(exc, RateLimitError) and state is not None:
                    await self._throttled(epoch)
                raise
            if response.headers.get(REMAINING_HEADER) is not None:
                await self._observe(response.headers)
            state = store.state
            if state is not None and state.recovering:
                store.succeeded()
                state = store.state
            if state is not self._seen:
                self._state_changed()
            return response
        finally:
            slots.give_back()

    async def _wait_for_slot(self, request: Request) -> None:
        """Wait for a concurrency slot; refuse, unsent, just before the deadline."""
        deadline = request.deadline
        if deadline is None:
            await self._slots.take()
            return
        remaining = deadline - self._clock.monotonic() - DEADLINE_MARGIN
        try:
            async with asyncio.timeout(max(0.0, remaining)):
                await self._slots.take()
        except TimeoutError:
            raise ClientRateLimitError(
                f"{request.operation}: {request.method} {request.display_url} was not sent: "
                f"all {self.config.max_concurrency} concurrency slots stayed busy until the "
                "call's deadline",
                status=429,
                method=request.method,
                url=request.display_url,
                operation=request.operation,
                request_id=request.request_id,
            ) from None

    async def _wait_turn(self, request: Request, wait: float | None) -> None:
        """Queue for a send; raise :class:`ClientRateLimitError` if it comes too late."""
        deadline = request.deadline
        if wait is not None and deadline is not None and self._clock.monotonic() + wait > deadline:
            raise self._refusal(request, wait)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), deadline)
        self._queue.append(waiter)
        if self._pacer is None:
            self._pacer = loop.create_task(self._pace(), name="geobox-usage rate limit pacer")
        try:
            if deadline is None:
                late = await waiter.future
            else:
                remaining = deadline - self._clock.monotonic() - DEADLINE_MARGIN
                try:
                    async with asyncio.timeout(max(0.0, remaining)):
                        late = await waiter.future
                except TimeoutError:
                    late = DEADLINE_MARGIN
        finally:
            if not waiter.future.done():
                waiter.future.cancel()  # the pacer skips it
        if late is not None:
            raise self._refusal(request, late)

    async def _pace(self) -> None:
        """Release queued callers, in order, as the store grants sends."""
        queue = self._queue
        store = self.store
        try:
            while queue:
                head = queue[0]
                if head.future.done():
                    queue.popleft()
                    continue
                try:
                    wait = await store.acquire()
                except Exception as exc:  # a store that fails closed: the head gets it
                    queue.popleft()
                    if not head.future.done():
                        head.future.set_exception(exc)
                    continue
                if wait <= 0.0:
                    queue.popleft()
                    if not head.future.done():
                        head.future.set_result(None)
                    continue
                self._refuse_late(wait)
                if queue:
                    await self._nap(min(wait, MAX_NAP))
        finally:
            self._pacer = None

    def _refuse_late(self, wait: float) -> None:
        """Refuse, at once, each waiter whose deadline comes before the next send.

        Only the wait the store named counts (a pause, or the next free send): a guess
        at the queue ahead would assume today's rate, and an adaptive rate recovers.
        Waiters further back give up just before their deadline instead.
        """
        cutoff = self._clock.monotonic() + wait
        for waiter in self._queue:
            deadline = waiter.deadline
            if deadline is not None and deadline < cutoff and not waiter.future.done():
                waiter.future.set_result(wait)

    async def _nap(self, seconds: float) -> None:
        """Sleep ``seconds`` on the clock, or less if the rate changes meanwhile."""
        changed = self._changed
        if changed is None:
            changed = self._changed = asyncio.Event()
        changed.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(changed.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    def _refusal(self, request: Request, wait: float) -> ClientRateLimitError:
        return ClientRateLimitError(
            f"{request.operation}: {request.method} {request.display_url} was not sent: "
            f"the client's rate limiter would let it through in {wait:.3g}s, after the "
            "call's deadline",
            status=429,
            method=request.method,
            url=request.display_url,
            retry_after=wait,
            operation=request.operation,
            request_id=request.request_id,
        )

    async def _observe(self, headers: Mapping[str, str] | None) -> None:
        pause = pause_from_headers(headers, now=self._clock.time(), max_pause=self.config.max_pause)
        if pause is None or not await self.store.pause(pause):
            return
        self._events.emit(
            "geobox.ratelimit",
            action="pause",
            rate=self.rate,
            reason="X-RateLimit-Remaining: 0",
            pause_s=pause,
        )

    async def _throttled(self, epoch: int) -> None:
        measured = self._meter.rate(self._clock.monotonic()) if self._meter else 0.0
        await self.store.throttled(epoch, measured)
        self._state_changed()

    def _state_changed(self) -> None:
        """Tell the pacer and the listeners that the adaptive state changed."""
        old, new = self._seen, self.store.state
        if new is old:
            return
        self._seen = new
        if self._changed is not None:
            self._changed.set()
        if old is None or new is None:
            return
        if new.epoch > old.epoch:
            self._emit("slowdown", new, "429")
        elif old.recovering and not new.recovering:
            self._emit("speedup", new, "recovered")

    def _emit(self, action: str, state: AimdState, reason: str) -> None:
        self._events.emit(
            "geobox.ratelimit", action=action, rate=state.rate, reason=reason, pause_s=None
        )

    async def aclose(self) -> None:
        """Stop the pacer and refuse the calls still queued (the client is closing)."""
        pacer = self._pacer
        if pacer is not None:
            pacer.cancel()
            await asyncio.gather(pacer, return_exceptions=True)
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.future.done():
                waiter.future.cancel()
        close: Any = getattr(self.store, "aclose", None)
        if close is not None:
            await close()

    def __repr__(self) -> str:
        return f"RateLimitStage({self.config!r}, rate={self.rate!r}, store={self.store!r})"


@hookimpl
def geobox_usage_stage(context: PipelineContext) -> PipelineStage | None:
    """The built-in rate limit stage; none when ``rate_limit=None``.

    A :class:`~geobox_usage.resilience.RateLimitStore` returned by the
    ``geobox_usage_rate_limit_store`` hook replaces the in-memory one.
    """
    config = context.rate_limit
    if config is None:
        return None
    store: Any = context.hook.geobox_usage_rate_limit_store(context=context)
    if store is not None and not isinstance(store, RateLimitStore):
        raise ValueError(
            f"geobox_usage_rate_limit_store must answer a RateLimitStore, got {store!r}"
        )
    stage = RateLimitStage(config, context.clock, context.events, store)
    return PipelineStage(name="rate_limit", slot=Slot.RATE_LIMIT, stage=stage, aclose=stage.aclose)
