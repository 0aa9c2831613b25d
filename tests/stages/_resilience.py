"""Helpers for the resilience stage tests (retry, breaker, rate limit, auth)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from geobox_usage import (
    AsyncGeoboxClient,
    Handler,
    PipelineContext,
    PipelineEvent,
    PipelineStage,
    Request,
    Response,
    RetryConfig,
    TimeoutConfig,
    hookimpl,
)
from geobox_usage.testing import DEMO_ACCESS_TOKEN, SimulatedGeobox

#: Small timings so that retries take milliseconds.
FAST_RETRY = RetryConfig(attempts=4, backoff_base=0.005, backoff_max=0.02, deadline=5.0)
#: A read limit with room for a loaded machine (a healthy attempt never reaches it);
#: tests of timeouts make the server wait far past it.
FAST_TIMEOUT = TimeoutConfig(connect=1.0, read=1.0)

ATTEMPT_FIELDS = {
    "operation",
    "method",
    "path",
    "request_id",
    "attempt",
    "status",
    "duration_ms",
    "outcome",
    "error_type",
    "wait_s",
    "wait_reason",
    "will_retry",
    "give_up_reason",
}


class Recorder:
    """Collects the pipeline events of a client."""

    def __init__(self) -> None:
        self.events: list[PipelineEvent] = []

    def __call__(self, event: PipelineEvent) -> None:
        self.events.append(event)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [dict(e.fields) for e in self.events if e.name == name]


def client_for(
    sim: SimulatedGeobox, *, cache: bool = False, **kwargs: Any
) -> tuple[AsyncGeoboxClient, Recorder]:
    """A client for ``sim`` with fast retries; single flight/cache off unless asked."""
    if not {"access_token", "username", "apikey"} & kwargs.keys():
        kwargs["access_token"] = DEMO_ACCESS_TOKEN
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("timeout", FAST_TIMEOUT)
    kwargs.setdefault("load_entrypoints", False)
    if not cache:
        kwargs.setdefault("disable_plugins", ("cache",))
    client = AsyncGeoboxClient(host=sim.base_url, **kwargs)
    recorder = Recorder()
    client.context.events.subscribe(recorder)
    return client, recorder


def stage_named(client: AsyncGeoboxClient, name: str) -> Any:
    """The stage object the client's pipeline holds under ``name``."""
    return next(s.stage for s in client.pipeline.stages if s.name == name)


class InFlightProbe:
    """A stage just outside auth counting the attempts in flight (and the peak)."""

    plugin_name = "test_in_flight"

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            return await call_next(request)
        finally:
            self.now -= 1

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> PipelineStage:
        return PipelineStage(name="test_in_flight", slot=550, stage=self)


def received_at(sim: SimulatedGeobox, path: str, method: str = "GET") -> list[float]:
    """When the simulator received each request to ``path`` (its monotonic clock)."""
    return [r.received_at for r in sim.requests if r.method == method and r.path == path]


async def gather_all(coros: Iterable[Any], *, limit: int) -> list[Any]:
    """Run ``coros`` with at most ``limit`` at once; results or exceptions, in order."""
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros), return_exceptions=True)
