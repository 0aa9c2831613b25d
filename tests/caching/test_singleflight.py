"""Single flight: one execution per key, shared outcomes, and cancellation in every seat."""

from __future__ import annotations

import asyncio

import pytest

from geobox_usage.caching._singleflight import SingleFlight
from geobox_usage.errors import TransportError


class Work:
    """Work that waits at a gate, counting how many times it ran."""

    def __init__(self) -> None:
        self.runs = 0
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.error: Exception | None = None

    async def __call__(self) -> list[int]:
        self.runs += 1
        self.started.set()
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return [self.runs]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrent_callers_share_one_execution() -> None:
    flights: SingleFlight[list[int]] = SingleFlight()
    work = Work()
    tasks = [asyncio.create_task(flights.run("k", work)) for _ in range(10)]
    await settle()
    assert len(flights) == 1
    work.gate.set()
    results = await asyncio.gather(*tasks)
    assert work.runs == 1
    assert [led for _, led in results].count(True) == 1
    assert all(value == [1] for value, _ in results)
    assert len(flights) == 0


async def test_different_keys_do_not_share() -> None:
    flights: SingleFlight[list[int]] = SingleFlight()
    work = Work()
    work.gate.set()
    await asyncio.gather(flights.run("a", work), flights.run("b", work))
    assert work.runs == 2


async def test_an_error_is_every_follower_s_outcome() -> None:
    flights: SingleFlight[list[int]] = SingleFlight()
    work = Work()
    work.error = RuntimeError("boom")
    tasks = [asyncio.create_task(flights.run("k", work)) for _ in range(3)]
    await settle()
    work.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert work.runs == 1
    assert len(flights) == 0


async def test_a_cancelled_leader_hands_over_to_a_follower() -> None:
    flights: SingleFlight[list[int]] = SingleFlight()
    first, second = Work(), Work()
    leader = asyncio.create_task(flights.run("k", first))
    await first.started.wait()
    followers = [asyncio.create_task(flights.run("k", second)) for _ in range(4)]
    await settle()
    leader.cancel()
    await settle()
    assert second.runs == 1  # exactly one follower took over; the others follow it
    second.gate.set()
    results = await asyncio.gather(*followers)
    assert [led for _, led in results].count(True) == 1
    assert all(value == [1] for value, _ in results)
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert len(flights) == 0


async def test_a_cancelled_follower_leaves_alone() -> None:
    flights: SingleFlight[list[int]] = SingleFlight()
    work = Work()
    leader = asyncio.create_task(flights.run("k", work))
    await work.started.wait()
    quitter = asyncio.create_task(flights.run("k", work))
    stayer = asyncio.create_task(flights.run("k", work))
    await settle()
    quitter.cancel()
    await settle()
    assert not leader.done()
    work.gate.set()
    assert await leader == ([1], True)
    assert await stayer == ([1], False)
    with pytest.raises(asyncio.CancelledError):
        await quitter
    assert work.runs == 1


async def test_a_lone_cancelled_leader_leaves_nothing_behind() -> None:
    flights: SingleFlight[list[int]] = SingleFlight()
    work = Work()
    leader = asyncio.create_task(flights.run("k", work))
    await work.started.wait()
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert len(flights) == 0
    work.gate.set()
    assert await flights.run("k", work) == ([2], True)


async def test_each_follower_gets_its_own_copy_of_a_geobox_error() -> None:
    flights: SingleFlight[list[int]] = SingleFlight()
    work = Work()
    cause = ConnectionResetError("peer went away")
    error = TransportError("lost", request_sent=True, operation="op", request_id="rid")
    error.__cause__ = cause
    work.error = error
    tasks = [asyncio.create_task(flights.run("k", work)) for _ in range(3)]
    await settle()
    work.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] is error  # the leader raises its own error
    followers = results[1:]
    assert all(type(r) is TransportError for r in followers)
    assert len({id(r) for r in results}) == 3
    for copy in followers:
        assert isinstance(copy, TransportError)
        assert (str(copy), copy.request_id, copy.request_sent) == (str(error), "rid", True)
        assert copy.__cause__ is cause
    followers[0].attempts = 9  # type: ignore[union-attr]
    assert error.attempts == 1


# -- leading in the caller's own frame (lead, succeeded, failed) -------------------------


async def test_a_caller_that_leads_in_its_own_frame_is_followed_like_run() -> None:
    flights: SingleFlight[list[int]] = SingleFlight()
    flight = flights.lead("k")
    assert flight is not None
    assert flights.lead("k") is None  # in flight: a second caller must follow
    work = Work()
    followers = [asyncio.create_task(flights.run("k", work)) for _ in range(3)]
    await settle()
    flights.succeeded("k", flight, [7])
    assert await asyncio.gather(*followers) == [([7], False)] * 3
    assert work.runs == 0 and len(flights) == 0


async def test_a_failed_lead_is_every_follower_s_error() -> None:
    flights: SingleFlight[list[int]] = SingleFlight()
    flight = flights.lead("k")
    assert flight is not None
    followers = [asyncio.create_task(flights.run("k", Work())) for _ in range(2)]
    await settle()
    flights.failed("k", flight, RuntimeError("boom"))
    results = await asyncio.gather(*followers, return_exceptions=True)
    assert [type(r) for r in results] == [RuntimeError, RuntimeError]
    assert len(flights) == 0


async def test_a_lead_ended_by_cancellation_hands_over_instead_of_failing_others() -> None:
    flights: SingleFlight[list[int]] = SingleFlight()
    flight = flights.lead("k")
    assert flight is not None
    work = Work()
    followers = [asyncio.create_task(flights.run("k", work)) for _ in range(3)]
    await settle()
    flights.failed("k", flight, asyncio.CancelledError())
    await settle()
    assert work.runs == 1  # one follower took over; the others follow it
    work.gate.set()
    results = await asyncio.gather(*followers)
    assert [led for _, led in results].count(True) == 1
    assert all(value == [1] for value, _ in results)
