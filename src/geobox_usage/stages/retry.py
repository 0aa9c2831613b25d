"""The retry stage: repeats failed attempts, safely, within a deadline and a budget.

Every rule about *whether* to repeat lives in the pure
:func:`~geobox_usage.resilience.decide`; this stage only times attempts, sleeps and
resends. A call that succeeds at once costs a place in the stage's deadline watch (one
timer for all the calls in flight, not one per call) and one budget deposit.
A call whose first attempt fails continues in a :class:`tenacity.AsyncRetrying` loop
whose ``retry`` callback asks :func:`~geobox_usage.resilience.decide` (then the retry
budget), whose ``wait`` is the decided wait and whose ``sleep`` is the injected clock's.

Guarantees:

* ``update_usage`` (any non-idempotent spec) is repeated only when its request provably
  never reached the server, or the server refused it outright (429, 503 with
  ``Retry-After``).
* The next attempt never starts before ``Retry-After``; a ``Retry-After`` that points
  past the deadline fails the call at once with that error (``.retry_after`` set).
* The deadline bounds the whole call; when it passes mid-attempt the call raises
  :class:`~geobox_usage.GeoboxTimeoutError`.
* Retries stay within the budget (a share of recent calls); past it the call fails
  with its last error and the attempt event says ``retry budget exhausted``.
* Cancellation is never retried, converted or swallowed.
* Every attempt emits one ``geobox.attempt`` event; the error raised (and the
  response returned) carries ``.attempts``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, stop_never

from geobox_usage._clock import Clock
from geobox_usage._messages import Request, Response
from geobox_usage._sent import request_started
from geobox_usage.config import RetryConfig
from geobox_usage.errors import GeoboxError, GeoboxTimeoutError
from geobox_usage.events import EventBus
from geobox_usage.hookspecs import hookimpl
from geobox_usage.pipeline import Handler, PipelineContext, PipelineStage, Slot
from geobox_usage.resilience._budget import (
    InMemoryRetryBudgetStore,
    RetryBudget,
    RetryBudgetStore,
)
from geobox_usage.resilience._deadline import DeadlineWatch
from geobox_usage.resilience._decision import (
    BUDGET_EXHAUSTED,
    DEADLINE,
    GiveUp,
    Retry,
    decide,
)

__all__ = ["RetryStage", "geobox_usage_stage"]

_NO_RETRY = RetryConfig(attempts=1)
ATTEMPT_EVENT = "geobox.attempt"


class RetryStage:
    """Repeats failed attempts according to :func:`~geobox_usage.resilience.decide`.

    Args:
        config: the retry settings; ``None`` makes one attempt per call (attempt
            events are still emitted and the default deadline still applies).
        clock: the time source; its ``sleep`` is used between attempts.
        events: where ``geobox.attempt`` events go.
        budget: the retry budget; a fresh in-memory one by default.
        rng: the jitter source (seeded in tests).
    """

    __slots__ = ("_budget", "_clock", "_config", "_events", "_rng", "_watch")

    def __init__(
        self,
        config: RetryConfig | None,
        clock: Clock,
        events: EventBus,
        *,
        budget: RetryBudgetStore | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config if config is not None else _NO_RETRY
        self._clock = clock
        self._events = events
        cfg = self._config
        self._budget = budget or InMemoryRetryBudgetStore(
            RetryBudget(cfg.budget_ratio, cfg.budget_min_per_s)
        )
        self._rng = rng or random.Random()
        self._watch = DeadlineWatch()

    @property
    def budget(self) -> RetryBudgetStore:
        """The retry budget this stage spends from."""
        return self._budget

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        """Run the call, repeating failed attempts while the decision allows it."""
        now = self._clock.monotonic()
        deadline = now + self._config.deadline
        if request.deadline is not None and request.deadline < deadline:
            deadline = request.deadline
        self._budget.record_request(now)
        first = request.for_attempt(1, deadline)
        retrying: _RetryingCall | None = None
        started = time.perf_counter()
        error: GeoboxTimeoutError | None = None
        started_mark = request_started.set(False)
        guard = self._watch.enter(deadline - now)
        try:
            try:
                response = await call_next(first)
            except Exception as exc:
                retrying = _RetryingCall(self, first, call_next, exc, started)
                return await retrying.run()
        except asyncio.CancelledError:
            if not self._watch.timed_out(guard):
                raise  # not our deadline: the caller's own cancellation, left alone
            attempts = retrying.attempt if retrying is not None else 1
            error = GeoboxTimeoutError(
                f"{request.operation}: {request.method} {request.display_url} did not "
                f"complete within the call's deadline of {deadline - now:g}s",
                request_sent=request_started.get(),
                operation=request.operation,
                request_id=request.request_id,
                attempts=attempts,
            )
            if self._events.listeners:
                self._emit(first.for_attempt(attempts), None, started, error, GiveUp(DEADLINE))
        finally:
            self._watch.leave(guard)
            request_started.reset(started_mark)
        if error is not None:
            # Raised outside the ``except`` block: the cancellation's context is the
            # attempt inside aiohttp, whose traceback's locals hold the URL (with the
            # API key) and the headers.
            raise error
        if self._events.wants(ATTEMPT_EVENT, logging.DEBUG):  # a routine success
            self._emit(first, response.status, started, None, None)
        return response

    def _emit(
        self,
        request: Request,
        status: int | None,
        started: float,
        error: BaseException | None,
        decision: Retry | GiveUp | None,
    ) -> None:
        """Emit the ``geobox.attempt`` event for one finished attempt."""
        retry = decision if isinstance(decision, Retry) else None
        self._events.emit(
            ATTEMPT_EVENT,
            operation=request.operation,
            method=request.method,
            path=request.path,
            request_id=request.request_id,
            attempt=request.attempt,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000.0, 3),
            outcome="ok" if error is None else "error",
            error_type=None if error is None else type(error).__name__,
            wait_s=retry.wait if retry else None,
            wait_reason=retry.reason if retry else None,
            will_retry=retry is not None,
            give_up_reason=decision.reason if isinstance(decision, GiveUp) else None,
        )

    async def aclose(self) -> None:
        """Stop the deadline timer and close the budget store if it holds a connection
        (Redis, say): the client is closing."""
        self._watch.close()
        close: Any = getattr(self._budget, "aclose", None)
        if close is not None:
            await close()

    def __repr__(self) -> str:
        return f"RetryStage({self._config!r}, budget={self._budget!r})"


class _RetryingCall:
    """The slow path of one call whose first attempt failed: a tenacity loop.

    The first tenacity attempt replays the first attempt's error (it already happened),
    so tenacity's attempt numbers match the call's. ``retry`` decides and emits the
    attempt event; ``wait`` returns the decided wait; ``sleep`` is the clock's.
    """

    __slots__ = (
        "_call_next",
        "_decision",
        "_pending",
        "_request",
        "_stage",
        "_started",
        "attempt",
    )

    def __init__(
        self,
        stage: RetryStage,
        first: Request,
        call_next: Handler,
        error: Exception,
        started: float,
    ) -> None:
        self._stage = stage
        self._request = first
        self._call_next = call_next
        self._pending: Exception | None = error
        self._started = started
        self._decision: Retry | GiveUp | None = None
        self.attempt = 1

    async def run(self) -> Response:
        """Run the remaining attempts; set ``.attempts`` on the error given up with."""
        retrying = AsyncRetrying(
            sleep=self._stage._clock.sleep,
            retry=self._retry,
            wait=self._wait,
            stop=stop_never,  # decide() owns the limits: attempts, deadline, budget
            reraise=True,
        )
        try:
            response: Response = await retrying(self._attempt)
        except GeoboxError as exc:
            exc.attempts = self.attempt
            raise
        return response

    async def _attempt(self) -> Response:
        pending = self._pending
        if pending is not None:  # attempt 1 already ran in the fast path
            self._pending = None
            raise pending
        self.attempt += 1
        self._request = request = self._request.for_attempt(self.attempt)
        self._started = time.perf_counter()
        response = await self._call_next(request)
        return response._replace(attempts=self.attempt)

    async def _retry(self, state: RetryCallState) -> bool:
        outcome = state.outcome
        assert outcome is not None
        stage = self._stage
        if not outcome.failed:
            if stage._events.listeners:
                stage._emit(self._request, outcome.result().status, self._started, None, None)
            return False
        error = outcome.exception()
        if not isinstance(error, Exception):
            return False  # CancelledError and other BaseExceptions: re-raised at once
        now = stage._clock.monotonic()
        deadline = self._request.deadline
        assert deadline is not None
        decision = decide(
            self._request.spec,
            self.attempt,
            error,
            now,
            deadline,
            config=stage._config,
            draw=stage._rng.random(),
        )
        if isinstance(decision, Retry) and not await stage._budget.try_spend(now):
            decision = GiveUp(BUDGET_EXHAUSTED)
        self._decision = decision
        if stage._events.listeners:
            status = getattr(error, "status", None)
            stage._emit(
                self._request,
                status if isinstance(status, int) else None,
                self._started,
                error,
                decision,
            )
        return isinstance(decision, Retry)

    def _wait(self, state: RetryCallState) -> float:
        decision = self._decision
        return decision.wait if isinstance(decision, Retry) else 0.0


@hookimpl
def geobox_usage_stage(context: PipelineContext) -> PipelineStage:
    """The built-in retry stage (always present; ``retry=None`` makes one attempt).

    A :class:`~geobox_usage.resilience.RetryBudgetStore` returned by the
    ``geobox_usage_retry_budget_store`` hook replaces the in-memory budget; its
    ``aclose`` coroutine, if it has one, is awaited when the client closes.
    """
    budget: Any = context.hook.geobox_usage_retry_budget_store(context=context)
    if budget is not None and not isinstance(budget, RetryBudgetStore):
        raise ValueError(
            f"geobox_usage_retry_budget_store must answer a RetryBudgetStore, got {budget!r}"
        )
    stage = RetryStage(context.retry, context.clock, context.events, budget=budget)
    return PipelineStage(name="retry", slot=Slot.RETRY, stage=stage, aclose=stage.aclose)
