"""Which core each benchmark process runs on: the server on one, every client on another.

On a machine of two cores, an unpinned server and client compete for both with each
other: how the scheduler happens to share them then moves a client's CPU per call by
tens of percent between identical runs. Pinned, each has a core of its own, and only
the rest of the machine's load is noise. The run pins when the machine lets it (Linux's
``sched_setaffinity``, two usable cores or more) unless ``--no-pin`` is given.

The choice travels to the child processes in :data:`CPU_ENV`, which each of them reads
with :func:`pin_from_env` first thing.
"""

from __future__ import annotations

import os
from typing import Final

__all__ = ["CPU_ENV", "Placement", "env_for", "pin_from_env", "placement"]

CPU_ENV: Final = "GEOBOX_BENCH_CPU"
"""The environment variable a benchmark process reads the core it must run on from."""


class Placement:
    """The cores of the server and of the clients, or none (not pinned)."""

    __slots__ = ("client", "server")

    def __init__(self, server: int | None, client: int | None) -> None:
        self.server = server
        self.client = client

    @property
    def pinned(self) -> bool:
        """Whether processes are pinned to cores."""
        return self.server is not None

    def describe(self) -> str:
        """One sentence for the report."""
        if not self.pinned:
            return "Server and client not pinned to cores."
        return f"Server pinned to core {self.server}, each client process to core {self.client}."


def env_for(cpu: int | None) -> dict[str, str]:
    """The environment of a child process that must run on ``cpu`` (``None``: any)."""
    env = dict(os.environ)
    env.pop(CPU_ENV, None)
    if cpu is not None:
        env[CPU_ENV] = str(cpu)
    return env


def placement(enabled: bool = True) -> Placement:
    """Two distinct usable cores for the server and the clients, when pinning is possible."""
    if not enabled or not hasattr(os, "sched_getaffinity"):
        return Placement(None, None)
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return Placement(None, None)
    return Placement(usable[0], usable[1])


def pin_from_env() -> None:
    """Pin this process to the core named in :data:`CPU_ENV`, if any."""
    cpu = os.environ.get(CPU_ENV)
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})
