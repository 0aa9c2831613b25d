"""A simulated Geobox usage server with fault injection, for tests, demos and benchmarks.

:class:`SimulatedGeobox` is a real aiohttp server holding deterministic, in-memory
state: it speaks the usage API under ``/v1/`` with the real service's authentication,
permissions and FastAPI-shaped errors, logs every request it receives, and follows a
:class:`FaultPlan` that refuses, delays, drops or damages chosen answers. It lets the
client's resilience (retries, idempotency, token refresh, rate limiting) be tested over
real HTTP without the real service, and identically on every run.

Typical use::

    async with SimulatedGeobox(faults=FaultPlan().sequence("usage/api", Fault.drop())) as sim:
        ...  # point the client at sim.base_url, log in with DEMO_USERNAME/DEMO_PASSWORD
        assert sim.count("GET", "usage/api") == 2

Synchronous code uses ``with SimulatedGeobox().in_thread() as sim``; pytest users get
the ``geobox_sim`` and ``geobox_fault_plan`` fixtures from the bundled plugin.
"""

from ._accounts import (
    ADMIN_ACCESS_TOKEN,
    ADMIN_PASSWORD,
    ADMIN_USER_ID,
    ADMIN_USERNAME,
    DEFAULT_ACCESS_TOKENS,
    DEFAULT_API_KEYS,
    DEFAULT_USERS,
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    DEMO_API_KEY_ID,
    DEMO_PASSWORD,
    DEMO_USER_ID,
    DEMO_USERNAME,
    OTHER_API_KEY,
    OTHER_API_KEY_ID,
    OTHER_PASSWORD,
    OTHER_USER_ID,
    OTHER_USERNAME,
    REVOKED_API_KEY,
    REVOKED_API_KEY_ID,
    SimApiKey,
    SimUser,
)
from ._faults import Fault, FaultKind, FaultPlan, chaos_plan
from ._records import RecordedRequest
from ._runner import serve_forever
from ._server import SimulatedGeobox

__all__ = [
    "ADMIN_ACCESS_TOKEN",
    "ADMIN_PASSWORD",
    "ADMIN_USERNAME",
    "ADMIN_USER_ID",
    "DEFAULT_ACCESS_TOKENS",
    "DEFAULT_API_KEYS",
    "DEFAULT_USERS",
    "DEMO_ACCESS_TOKEN",
    "DEMO_API_KEY",
    "DEMO_API_KEY_ID",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "DEMO_USER_ID",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "OTHER_API_KEY",
    "OTHER_API_KEY_ID",
    "OTHER_PASSWORD",
    "OTHER_USERNAME",
    "OTHER_USER_ID",
    "REVOKED_API_KEY",
    "REVOKED_API_KEY_ID",
    "RecordedRequest",
    "SimApiKey",
    "SimUser",
    "SimulatedGeobox",
    "chaos_plan",
    "serve_forever",
]
