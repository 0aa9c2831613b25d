"""The ``geobox-usage`` command: ``demo`` runs the main job, ``serve`` runs the simulator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from geobox_usage import __version__

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geobox-usage",
        description="A resilient async client for the Geobox usage API, and its simulator.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run every usage operation against an in-process simulated server",
        description="Start the simulated Geobox server with a light fault plan, run the "
        "four usage operations through the full pipeline, and print a report.",
    )
    demo.add_argument("--seed", type=int, default=7, help="the simulator's seed (default 7)")
    demo.add_argument(
        "--log-json",
        action="store_true",
        help="print the pipeline's log events (on stderr) as JSON lines instead of console lines",
    )

    serve = commands.add_parser(
        "serve",
        help="run the simulated Geobox server until interrupted",
        description="Serve the simulated Geobox usage API (under /v1/) with the default "
        "accounts, for trying the client or testing an application against it.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    serve.add_argument("--seed", type=int, default=0, help="the simulator's seed (default 0)")
    serve.add_argument(
        "--chaos",
        type=float,
        default=0.0,
        metavar="P",
        help="fault a share P (0..1) of requests with transient faults of every kind",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    return _serve(args)


def _demo(args: argparse.Namespace) -> int:
    from geobox_usage._demo import run_demo
    from geobox_usage.logs import configure_demo_logging

    configure_demo_logging(json=args.log_json)  # the CLI owns the process; the library never
    return asyncio.run(run_demo(seed=args.seed))


def _serve(args: argparse.Namespace) -> int:
    from geobox_usage.testing import (
        DEMO_ACCESS_TOKEN,
        DEMO_API_KEY,
        DEMO_PASSWORD,
        DEMO_USERNAME,
        SimulatedGeobox,
        chaos_plan,
        serve_forever,
    )

    if not 0.0 <= args.chaos <= 1.0:
        print(f"geobox-usage serve: --chaos must be from 0 to 1, got {args.chaos}", file=sys.stderr)
        return 2

    def ready(sim: SimulatedGeobox) -> None:
        print(f"simulated Geobox usage API at {sim.api_url}", flush=True)
        print(f"  username/password: {DEMO_USERNAME} / {DEMO_PASSWORD}")
        print(f"  access token:      {DEMO_ACCESS_TOKEN}")
        print(f"  API key:           {DEMO_API_KEY}")
        print("press Ctrl-C to stop", flush=True)

    faults = chaos_plan(args.chaos, seed=args.seed) if args.chaos else None
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the server is stopped
        asyncio.run(
            serve_forever(args.host, args.port, seed=args.seed, faults=faults, on_ready=ready)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
