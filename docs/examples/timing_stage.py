"""The shape of a stage: an awaited callable that gets the request and the rest of the chain.

This one sits just inside logging and prints how long each call took, with its outcome.
"""

from __future__ import annotations

import asyncio
import os

from geobox_usage import (
    AsyncGeoboxClient,
    Clock,
    Handler,
    PipelineContext,
    PipelineStage,
    Request,
    Response,
    Slot,
    hookimpl,
)

# The API host; the docs' tests point it at the simulated server. Credentials come from
# GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY or GEOBOX_USERNAME and GEOBOX_PASSWORD.
HOST = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")


class CallTimer:
    """Prints each call's operation, outcome and duration."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        started = self.clock.monotonic()
        try:
            response = await call_next(request)
        except Exception as error:  # report it, then let it travel on unchanged
            print(f"{request.spec.name}: {type(error).__name__}")
            raise
        elapsed_ms = (self.clock.monotonic() - started) * 1000
        print(f"{request.spec.name}: {response.status} in {elapsed_ms:.1f} ms")
        return response


class CallTimerPlugin:
    """Builds a :class:`CallTimer` on each client's own clock."""

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> PipelineStage:
        return PipelineStage(name="timer", slot=Slot.LOGGING + 1, stage=CallTimer(context.clock))


async def main() -> None:
    async with AsyncGeoboxClient(HOST, plugins=[CallTimerPlugin()]) as client:
        await client.get_user()
        await client.get_usage_summary()


if __name__ == "__main__":
    asyncio.run(main())
