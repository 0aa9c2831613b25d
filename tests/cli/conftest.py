"""A threaded simulator for the command line's tests: the commands run their own event loop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from geobox_usage.testing import FaultPlan, SimulatedGeobox


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner with no Geobox settings from the machine's environment."""
    for name in ("GEOBOX_ACCESS_TOKEN", "GEOBOX_APIKEY", "GEOBOX_USERNAME", "GEOBOX_PASSWORD",
                 "GEOBOX_HOST"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.fixture
def threaded_sim() -> Iterator[SimulatedGeobox]:
    """A simulator serving from its own thread, with an empty fault plan to fill in."""
    with SimulatedGeobox(7, faults=FaultPlan()).in_thread() as sim:
        yield sim
