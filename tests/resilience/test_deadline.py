"""The deadline watch: one timer for every call in flight, ``asyncio.timeout``'s rules."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from geobox_usage.resilience._deadline import DeadlineWatch


async def _guarded(watch: DeadlineWatch, seconds: float, work: Any) -> str:
    """Run ``work`` under a deadline of ``seconds``; say how it ended."""
    guard = watch.enter(seconds)
    try:
        await work
    except asyncio.CancelledError:
        if watch.timed_out(guard):
            return "timed out"
        raise
    finally:
        watch.leave(guard)
    return "done"


async def test_a_call_past_its_deadline_is_cancelled_and_told_apart() -> None:
    watch = DeadlineWatch()
    assert await _guarded(watch, 0.005, asyncio.sleep(10)) == "timed out"
    assert len(watch) == 0
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the cancellation was taken back


async def test_a_call_that_ends_in_time_is_left_alone() -> None:
    watch = DeadlineWatch()
    assert await _guarded(watch, 10.0, asyncio.sleep(0)) == "done"
    await asyncio.sleep(0.001)
    assert len(watch) == 0


async def test_the_callers_own_cancellation_is_not_turned_into_a_timeout() -> None:
    watch = DeadlineWatch()
    started = asyncio.Event()

    async def call() -> str:
        started.set()
        return await _guarded(watch, 10.0, asyncio.sleep(10))

    task = asyncio.create_task(call())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(watch) == 0


async def test_many_calls_arm_one_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    real_call_at = loop.call_at

    def call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        if getattr(callback, "__self__", None) is watch:
            armed.append(when)
        return real_call_at(when, callback, *args, **kwargs)

    watch = DeadlineWatch()
    monkeypatch.setattr(loop, "call_at", call_at)
    outcomes = await asyncio.gather(
        *(_guarded(watch, 10.0 + i * 0.001, asyncio.sleep(0.001)) for i in range(200))
    )
    assert outcomes == ["done"] * 200
    assert len(armed) == 1  # the first call's deadline; later ones are later
    watch.close()


async def test_an_earlier_deadline_rearms_and_each_call_gets_its_own() -> None:
    watch = DeadlineWatch()
    outcomes = await asyncio.gather(
        _guarded(watch, 10.0, asyncio.sleep(0.05)),
        _guarded(watch, 0.005, asyncio.sleep(10)),  # earlier: the timer moves to it
        _guarded(watch, 0.01, asyncio.sleep(10)),  # set again for this one when it fires
    )
    assert outcomes == ["done", "timed out", "timed out"]
    watch.close()


async def test_the_task_lookup_finds_the_running_task_and_none_on_an_idle_loop() -> None:
    from geobox_usage._tasks import current_task

    loop = asyncio.get_running_loop()
    assert current_task(loop) is asyncio.current_task()
    other = asyncio.new_event_loop()
    try:
        assert current_task(other) is None  # a loop that runs nothing has no task
    finally:
        other.close()
