"""Test doubles shared by the logging, cache, redaction and audit tests."""

from __future__ import annotations

import asyncio

from geobox_usage import Handler, PipelineContext, PipelineStage, Request, Response, hookimpl


class FakeClock:
    """A clock that moves only when told to; ``sleep`` advances it at once."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.mono = 1000.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


class GatePlugin:
    """A stage just inside the cache that holds the calls of one operation at a gate.

    ``entered`` is set when the first held call reaches the gate; ``release()`` opens it.
    The request still goes to the simulator after the gate.
    """

    plugin_name = "test_gate"

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.entered = asyncio.Event()
        self.arrivals = 0
        self._open = asyncio.Event()

    def release(self) -> None:
        self._open.set()

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        if request.operation == self.operation:
            self.arrivals += 1
            self.entered.set()
            await self._open.wait()
        return await call_next(request)

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> PipelineStage:
        return PipelineStage(name="test_gate", slot=250, stage=self)


async def wait_for(event: asyncio.Event, timeout_ms: float = 2000) -> None:
    """Wait for ``event``, failing the test after ``timeout_ms``."""
    await asyncio.wait_for(event.wait(), timeout_ms / 1000)
