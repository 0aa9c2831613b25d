"""Pytest fixtures for code that embeds the geobox-usage client.

Installed as a ``pytest11`` entry point, so any project with ``geobox-usage`` installed
gets these fixtures without configuration:

* ``geobox_fault_plan``: an empty :class:`~geobox_usage.testing.FaultPlan` (seed 0) that
  the test fills in, before or during the test;
* ``geobox_sim``: a :class:`~geobox_usage.testing.SimulatedGeobox` that uses that plan,
  served in a daemon thread on its own event loop for the duration of one test.

Both fixtures are synchronous and function-scoped, so they work with plain tests and
with any async plugin (pytest-asyncio, anyio, none at all): the server never shares the
test's event loop. Point the client at ``geobox_sim.base_url``. Importing this module
imports nothing but pytest; the simulator is loaded when a fixture is first used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._faults import FaultPlan
    from ._server import SimulatedGeobox

__all__ = ["geobox_fault_plan", "geobox_sim"]


@pytest.fixture
def geobox_fault_plan() -> FaultPlan:
    """An empty fault plan with seed 0; ``geobox_sim`` follows it."""
    from ._faults import FaultPlan

    return FaultPlan(seed=0)


@pytest.fixture
def geobox_sim(geobox_fault_plan: FaultPlan) -> Iterator[SimulatedGeobox]:
    """A simulated Geobox server running in a thread, with the default accounts and seed 0."""
    from ._server import SimulatedGeobox

    with SimulatedGeobox(faults=geobox_fault_plan).in_thread() as sim:
        yield sim
