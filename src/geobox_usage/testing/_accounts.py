"""The simulator's accounts: users, API keys, static tokens and their default values.

Everything a test needs to log in to a :class:`~._server.SimulatedGeobox` lives here:
the :class:`SimUser` and :class:`SimApiKey` records the server is configured with, the
default accounts (``admin``, ``demo``, ``other``) and keys it starts with, and the
credentials of those defaults as constants. It is kept apart from the server so the
credentials can be read (by tests, the CLI, the docs) without the HTTP machinery, and so
the account records have one owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

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
    "OTHER_API_KEY",
    "OTHER_API_KEY_ID",
    "OTHER_PASSWORD",
    "OTHER_USERNAME",
    "OTHER_USER_ID",
    "REVOKED_API_KEY",
    "REVOKED_API_KEY_ID",
    "SimApiKey",
    "SimUser",
]

DEMO_USER_ID: Final = 7
DEMO_USERNAME: Final = "demo"
DEMO_PASSWORD: Final = "demo-password"
ADMIN_USER_ID: Final = 1
ADMIN_USERNAME: Final = "admin"
ADMIN_PASSWORD: Final = "admin-password"
OTHER_USER_ID: Final = 8
OTHER_USERNAME: Final = "other"
OTHER_PASSWORD: Final = "other-password"

DEMO_API_KEY_ID: Final = 3
DEMO_API_KEY: Final = "gbx-sim-demo-key-0003"
REVOKED_API_KEY_ID: Final = 4
REVOKED_API_KEY: Final = "gbx-sim-revoked-key-0004"
OTHER_API_KEY_ID: Final = 5
OTHER_API_KEY: Final = "gbx-sim-other-key-0005"

DEMO_ACCESS_TOKEN: Final = "gbx-sim-demo-static-token"
ADMIN_ACCESS_TOKEN: Final = "gbx-sim-admin-static-token"


DEFAULT_LIMITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "available_storage": 396_210_733_056,
        "max_daily_api_calls": 100_000_000,
        "max_monthly_api_calls": 3_000_000_000,
        "max_daily_traffic": 10_737_418_240,
        "max_monthly_traffic": 322_122_547_200,
        "max_daily_process": 576,
        "max_monthly_process": 17_280,
    }
)
"""The limit fields of a summary, as the official SDK's test data shows them."""


@dataclass(frozen=True, slots=True)
class SimUser:
    """A user account of the simulator.

    Attributes:
        id: the numeric user id.
        username: the login name for ``auth/token/``.
        password: the login password (never served).
        email: the e-mail address served in the user object.
        is_admin: admins may read any user's keys and usage, and update any summary.
        first_name: served in the user object.
        last_name: served in the user object.
        limits: the limit fields of the user's summary, by name
            (``max_daily_api_calls``, ``max_monthly_traffic``, ``available_storage``,
            ...); the defaults are the official SDK's test data.
        remaining_days: the summary's ``remaining_days`` (``None`` for no plan end).
    """

    id: int
    username: str
    password: str = field(repr=False)
    email: str
    is_admin: bool = False
    first_name: str = ""
    last_name: str = ""
    limits: Mapping[str, int] = field(default_factory=lambda: DEFAULT_LIMITS)
    remaining_days: int | None = None

    def to_json(self) -> dict[str, object]:
        """The user object the API serves."""
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "is_admin": self.is_admin,
            "is_active": True,
        }


@dataclass(frozen=True, slots=True)
class SimApiKey:
    """An API key of the simulator.

    Attributes:
        id: the numeric id (``apikeys/{id}/``).
        name: a human name.
        key: the secret string sent as ``apikey=`` and used as ``eid``.
        user_id: the owner.
        revoked: a revoked key no longer authenticates, but its usage can be read.
    """

    id: int
    name: str
    key: str = field(repr=False)
    user_id: int
    revoked: bool = False

    def to_json(self) -> dict[str, object]:
        """The API key object the API serves."""
        return {
            "id": self.id,
            "name": self.name,
            "key": self.key,
            "revoked": self.revoked,
            "user_id": self.user_id,
        }


DEFAULT_USERS: Final[tuple[SimUser, ...]] = (
    SimUser(ADMIN_USER_ID, ADMIN_USERNAME, ADMIN_PASSWORD, "admin@example.com", is_admin=True),
    SimUser(DEMO_USER_ID, DEMO_USERNAME, DEMO_PASSWORD, "demo@example.com", first_name="Demo"),
    SimUser(OTHER_USER_ID, OTHER_USERNAME, OTHER_PASSWORD, "other@example.com"),
)
"""The default accounts: ``admin`` (1, admin), ``demo`` (7) and ``other`` (8)."""

DEFAULT_API_KEYS: Final[tuple[SimApiKey, ...]] = (
    SimApiKey(DEMO_API_KEY_ID, "demo key", DEMO_API_KEY, DEMO_USER_ID),
    SimApiKey(REVOKED_API_KEY_ID, "revoked key", REVOKED_API_KEY, DEMO_USER_ID, revoked=True),
    SimApiKey(OTHER_API_KEY_ID, "other key", OTHER_API_KEY, OTHER_USER_ID),
)
"""The default API keys: 3 (demo's), 4 (demo's, revoked) and 5 (other's)."""

DEFAULT_ACCESS_TOKENS: Final[Mapping[str, int]] = MappingProxyType(
    {DEMO_ACCESS_TOKEN: DEMO_USER_ID, ADMIN_ACCESS_TOKEN: ADMIN_USER_ID}
)
"""The default static access tokens, token to user id: one for demo, one for admin."""
