"""Console or JSON rendering of the events, for ``geobox-usage demo`` only."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from geobox_usage.logs._processors import redact_event

__all__ = ["configure_demo_logging"]


def configure_demo_logging(
    json: bool = False, *, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Configure structlog globally to print the library's events: for the demo CLI only.

    The library itself never configures logging; a command-line program that owns the
    process (``geobox-usage demo``) may. Events are printed one per line, as readable
    console lines or as JSON objects, with a UTC timestamp and the level, secrets
    redacted, and values bound with ``structlog.contextvars`` merged in.

    Args:
        json: print JSON lines (``--log-json``) instead of console lines.
        level: the lowest level printed (audit events are printed whatever it is).
        stream: where to print; ``sys.stderr`` by default, so that a command's own
            output on stdout stays clean.
    """
    renderer: structlog.typing.Processor
    if json:
        renderer = structlog.processors.JSONRenderer(default=str, sort_keys=False)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False, sort_keys=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream if stream is not None else sys.stderr),
        cache_logger_on_first_use=False,
    )
