"""A stage of your own: a header on every attempt, sent just before the transport."""

from __future__ import annotations

import asyncio
import os

from geobox_usage import (
    AsyncGeoboxClient,
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


class Stamp:
    """Adds ``X-Team: reporting`` to every attempt, after auth has added its credentials."""

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        return await call_next(request.with_header("X-Team", "reporting"))

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> PipelineStage:
        return PipelineStage(name="stamp", slot=Slot.AUTH + 1, stage=self)


async def main() -> None:
    async with AsyncGeoboxClient(HOST, plugins=[Stamp()]) as client:
        print(client.pipeline.names)  # [..., 'auth', 'stamp', 'transport']
        print(await client.get_usage_summary())


if __name__ == "__main__":
    asyncio.run(main())
