"""The commands that need no Geobox account: ``demo`` (the main job) and ``serve``."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import sys

import click

__all__ = ["demo", "serve"]


@click.command()
@click.option("--seed", type=int, default=7, show_default=True, help="The simulator's seed.")
@click.option(
    "--log-json",
    is_flag=True,
    help="Print the pipeline's log events (on stderr) as JSON lines instead of console lines.",
)
def demo(seed: int, log_json: bool) -> None:
    """Run every usage operation against an in-process simulated server and print a report.

    The simulator starts with a light fault plan; the four usage operations run through
    the full pipeline, and the report shows what they returned and what the pipeline did.
    """
    from geobox_usage._demo import run_demo
    from geobox_usage.logs import configure_demo_logging

    configure_demo_logging(json=log_json)  # the CLI owns the process; the library never
    raise SystemExit(asyncio.run(run_demo(seed=seed)))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="The port to bind; 0 picks a free one.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="The simulator's seed.")
@click.option(
    "--chaos",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    metavar="P",
    help="Fault a share P (0 to 1) of requests with transient faults of every kind.",
)
def serve(host: str, port: int, seed: int, chaos: float) -> None:
    """Serve the simulated Geobox usage API until interrupted (Ctrl-C).

    It prints the value to pass as host= (or --host) and the demo account's credentials.
    """
    from geobox_usage.testing import (
        DEMO_ACCESS_TOKEN,
        DEMO_API_KEY,
        DEMO_PASSWORD,
        DEMO_USERNAME,
        SimulatedGeobox,
        chaos_plan,
        serve_forever,
    )

    def ready(sim: SimulatedGeobox) -> None:
        click.echo(f"simulated Geobox usage API; pass host={sim.base_url!r}")
        click.echo(f"  (or --host {sim.base_url}; the API itself is at {sim.api_url})")
        click.echo(f"  username/password: {DEMO_USERNAME} / {DEMO_PASSWORD}")
        click.echo(f"  access token:      {DEMO_ACCESS_TOKEN}")
        click.echo(f"  API key:           {DEMO_API_KEY}")
        click.echo("press Ctrl-C to stop")

    faults = chaos_plan(chaos, seed=seed) if chaos else None
    served = serve_forever(
        host, port, seed=seed, faults=faults, on_ready=ready, access_log=_request_log()
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the server is stopped
            asyncio.run(served)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"port {port} on {host} is already in use; pick another with --port "
                "(--port 0 picks a free one)"
            ) from None
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror}") from None


def _request_log() -> logging.Logger:
    """A logger printing aiohttp's access log, one line per request, on stdout."""
    log = logging.getLogger("geobox_usage.serve")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log
