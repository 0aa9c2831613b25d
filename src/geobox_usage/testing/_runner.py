"""The standalone simulator: :func:`serve_forever`, what ``geobox-usage serve`` runs.

A long-running server for manual testing and demos, with the default accounts, serving
until its task is cancelled. It is separate from :mod:`._server` because it is an entry
point around the simulator, not part of it: it only builds one and keeps it running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ._faults import FaultPlan
from ._server import SimulatedGeobox

__all__ = ["serve_forever"]


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    seed: int = 0,
    faults: FaultPlan | None = None,
    rate_limit: tuple[int, float] | None = None,
    token_ttl: float = 3600,
    on_ready: Callable[[SimulatedGeobox], Awaitable[None] | None] | None = None,
    access_log: logging.Logger | None = None,
) -> None:
    """Serve a simulator with the default accounts until cancelled.

    This is what ``geobox-usage serve`` runs. It prints nothing: ``on_ready`` is called
    with the listening simulator (its :attr:`~SimulatedGeobox.base_url` and the default
    credentials are what a CLI would show). Cancel the task (Ctrl-C under
    :func:`asyncio.run`) to stop; the server is closed before this returns.

    Args:
        host: the address to bind.
        port: the port to bind; 0 picks a free one.
        seed: the simulator's seed.
        faults: a fault plan, e.g. :func:`~._faults.chaos_plan`; none by default.
        rate_limit: ``(limit, window_seconds)`` to enable the server-side rate limit.
        token_ttl: seconds an issued token stays valid.
        on_ready: called (and awaited, if it returns an awaitable) once listening.
        access_log: a logger that gets one line per request answered; none by default.
    """
    sim = SimulatedGeobox(seed, faults=faults, rate_limit=rate_limit, token_ttl=token_ttl)
    async with sim.running(host, port, access_log=access_log):
        if on_ready is not None:
            result = on_ready(sim)
            if result is not None:
                await result
        await asyncio.Event().wait()
