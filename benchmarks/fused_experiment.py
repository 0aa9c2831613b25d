"""An experiment: how much would a sans-IO core save? The stages fused into one frame.

Issue 10 suggests reshaping the pipeline (a sans-IO core with a thin async shell) if
the stages' shape keeps the call from being cheap. Before paying for that (it changes
the ``geobox_usage_stage`` interface the plugins and users' stages are written
against), this measures its upper bound: :func:`install` replaces the pipeline of every
client opened afterwards with one coroutine that does the default stages' work for a
call that succeeds at once, calling the same stores the stages call (the single flight,
the retry budget and deadline, the breaker, the rate limit's store and slots, the
bearer header), with no coroutine, frame or link per stage. What is left between this
and the real pipeline is what the stages' shape costs.

It is not a client: anything but the plain success path at a level that filters the
library's events (a follower, a wait, a failure, an open circuit, another stage or
store) raises :class:`FusedPathUnsupported`. Run it with valgrind on ``PATH``::

    .venv/bin/python -m benchmarks.fused_experiment

which counts instructions per call (as :mod:`benchmarks.instructions` does) for this
client at WARNING with its real pipeline and with the fused one, against the minimal
server.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from geobox_usage import AsyncGeoboxClient
from geobox_usage._messages import Request, Response
from geobox_usage._sent import request_started
from geobox_usage.caching._singleflight import SingleFlight
from geobox_usage.logs._emit import enabled
from geobox_usage.resilience import InMemoryBreakerStore, InMemoryRateLimitStore
from geobox_usage.resilience._breaker_state import Outcome
from geobox_usage.stages.auth import BearerTokenAuth

from .cpus import env_for
from .instructions import CALLS, CONCURRENCY, WARMUP, count_instructions, per_call
from .run import ROOT, start_server

__all__ = ["FusedPathUnsupported", "fused_send", "install", "main"]

_REMAINING_HEADER = "X-RateLimit-Remaining"
_STAGES = ("logging", "cache", "retry", "circuit_breaker", "rate_limit", "auth")


class FusedPathUnsupported(RuntimeError):
    """The call left the one path the experiment implements."""


def fused_send(client: AsyncGeoboxClient) -> Callable[[Request], Awaitable[Response]]:
    """The default pipeline's success path of ``client``, as one coroutine function.

    Raises:
        FusedPathUnsupported: the client's pipeline is not the default one with its
            in-memory stores and a bearer token.
    """
    stages: dict[str, Any] = {s.name: s.stage for s in client.pipeline.stages}
    if tuple(stages) != _STAGES:
        raise FusedPathUnsupported(f"not the default pipeline: {tuple(stages)}")
    cache, retry, breaker, limiter, auth = (stages[name] for name in _STAGES[1:])
    if not isinstance(auth, BearerTokenAuth) or cache.backend is not None:
        raise FusedPathUnsupported("only a bearer token and cache=None are fused")
    if type(breaker.store) is not InMemoryBreakerStore:
        raise FusedPathUnsupported("only the in-memory breaker store is fused")
    if type(limiter.store) is not InMemoryRateLimitStore:
        raise FusedPathUnsupported("only the in-memory rate limit store is fused")
    transport = client.pipeline.transport.send
    flights: SingleFlight[Response] = cache._flights
    generations: dict[tuple[str, str], int] = cache._generations
    clock, config, budget, watch = retry._clock, retry._config, retry._budget, retry._watch
    breaker_store: InMemoryBreakerStore = breaker.store
    base, base_host = breaker._base, breaker._base_host
    limit_store: InMemoryRateLimitStore = limiter.store
    slots, header = limiter._slots, auth._header
    perf_counter = time.perf_counter

    async def send(request: Request) -> Response:
        spec = request.spec
        if not spec.idempotent or not request.url.startswith(base) or enabled(20):
            raise FusedPathUnsupported("only reads, to the client's host, at WARNING")
        generation = generations.get((request.identity, spec.name), 0)
        key = (request.identity, spec.method, request.url, request.params, generation)
        flight = flights.lead(key)
        if flight is None:
            raise FusedPathUnsupported("a follower of single flight")
        perf_counter()  # the logging stage's start
        try:
            now = clock.monotonic()
            perf_counter()  # the retry stage's start
            deadline = now + config.deadline
            budget.record_request(now)
            first = request.for_attempt(1, deadline)
            mark = request_started.set(False)
            guard = watch.enter(deadline - now)
            try:
                admission, change = breaker_store.admit_now(base_host, clock.monotonic())
                if change is not None or not admission.allowed:
                    raise FusedPathUnsupported("a circuit that is not closed")
                if limiter._queue or limit_store.acquire_now() > 0.0 or not slots.try_take():
                    raise FusedPathUnsupported("a rate limit wait")
                if limiter._meter is not None:
                    limiter._meter.tick(clock.monotonic())
                try:
                    response: Response = await transport(first.with_header("Authorization", header))
                    if response.headers.get(_REMAINING_HEADER) is not None:
                        raise FusedPathUnsupported("rate limit headers")
                    state = limit_store.state
                    if (state is not None and state.recovering) or state is not limiter._seen:
                        raise FusedPathUnsupported("a rate limit that changes")
                finally:
                    slots.give_back()
                breaker_store.record_now(
                    base_host, Outcome.SUCCESS, clock.monotonic(), probe=admission.probe
                )
            finally:
                watch.leave(guard)
                request_started.reset(mark)
            if retry._events.wants("geobox.attempt", 10):
                raise FusedPathUnsupported("an attempt event someone wants")
        except BaseException as exc:
            flights.failed(key, flight, exc)
            raise
        flights.succeeded(key, flight, response)
        return response

    return send


def install() -> None:
    """Make every :class:`AsyncGeoboxClient` opened from now on use :func:`fused_send`."""
    opened = AsyncGeoboxClient.__aenter__

    async def aenter(self: AsyncGeoboxClient) -> AsyncGeoboxClient:
        client = await opened(self)
        client._send = fused_send(client)
        return client

    AsyncGeoboxClient.__aenter__ = aenter  # type: ignore[method-assign,assignment]


_FUSED_CHILD = (
    "import benchmarks.fused_experiment as f; f.install(); "
    "from benchmarks.child import main; main()"
)


def _instructions(url: str, fused: bool, cpu: int | None) -> float:
    totals = []
    for calls in CALLS:
        start = ["-c", _FUSED_CHILD] if fused else ["-m", "benchmarks.child"]
        command = [sys.executable, *start, "timed", "--url", url, "--scenario", "gbx_warning",
                   "--calls", str(calls), "--concurrency", str(CONCURRENCY),
                   "--warmup", str(WARMUP)]  # fmt: skip
        totals.append(count_instructions(command, env=env_for(cpu), cwd=ROOT))
    return per_call(totals, CALLS)


def main(argv: list[str] | None = None) -> None:
    """Print this client's instructions per call at WARNING, real and fused."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fused_experiment")
    parser.add_argument("--no-pin", action="store_true", help="leave the processes unpinned")
    args = parser.parse_args(argv)
    server_cpu, client_cpu = (None, None) if args.no_pin else (0, 1)
    with start_server(cpu=server_cpu) as url:
        real = _instructions(url, False, client_cpu)
        fused = _instructions(url, True, client_cpu)
    print(f"this client at WARNING, its pipeline:      {real:10,.0f} instructions per call")
    print(f"the same work fused into one coroutine:    {fused:10,.0f} instructions per call")
    print(
        f"the stages' shape costs:                   {real - fused:10,.0f} ({1 - fused / real:.1%})"
    )


if __name__ == "__main__":
    main()
