"""The ``geobox-usage`` command line.

``whoami``, ``summary``, ``api-usage``, ``process`` and ``update`` ask the real API (or,
with ``--simulate``, an in-process simulator); ``demo`` runs the main job; ``serve`` runs
the simulated server. Exit statuses tell errors apart: see :class:`ExitCode`.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from geobox_usage import __version__
from geobox_usage.cli._commands import api_usage, process, summary, update, whoami
from geobox_usage.cli._exit import ExitCode
from geobox_usage.cli._local import demo, serve

__all__ = ["ExitCode", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geobox-usage")
def cli() -> None:
    """Ask the Geobox usage API how much a user or an API key consumed.

    Credentials come from flags or from GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY,
    GEOBOX_USERNAME and GEOBOX_PASSWORD; the host from --host or GEOBOX_HOST.
    Add --simulate to any command to try it against an in-process simulated server.
    """


for command in (whoami, summary, api_usage, process, update, demo, serve):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="geobox-usage")
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else ExitCode.FAILURE
    return ExitCode.OK
