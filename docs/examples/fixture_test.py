"""Test your own code with the ``geobox_sim`` and ``geobox_fault_plan`` pytest fixtures.

Installing geobox-usage registers them; they are synchronous, so any async test plugin
(or none) works. Run this file with ``python -m pytest docs/examples/fixture_test.py``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

from geobox_usage import AsyncGeoboxClient
from geobox_usage.testing import DEMO_ACCESS_TOKEN, Fault, FaultPlan, SimulatedGeobox

SERVES_ITSELF = True  # for the docs' tests: pytest starts the simulator


async def my_report(host: str) -> str:
    """Your application's code: it reads the summary through geobox-usage."""
    async with AsyncGeoboxClient(host, access_token=DEMO_ACCESS_TOKEN) as client:
        summary = await client.get_usage_summary()
    return f"{summary['daily_api_calls']} calls today"


def test_my_report_survives_an_outage(
    geobox_sim: SimulatedGeobox, geobox_fault_plan: FaultPlan
) -> None:
    geobox_fault_plan.sequence("usage/summary", Fault.status(503, retry_after=0.01))
    assert asyncio.run(my_report(geobox_sim.base_url)).endswith("calls today")
    assert geobox_sim.count("GET", "usage/summary") == 2  # the 503, then the retry


def main() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        capture_output=True,
        text=True,
        check=False,
    )
    print(result.stdout)
    if result.returncode != 0:
        raise SystemExit(result.returncode)


if __name__ == "__main__":
    main()
