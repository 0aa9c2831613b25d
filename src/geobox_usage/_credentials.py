"""Which credential a client uses, resolved the way the official SDK does it.

Constructor arguments first, then the ``GEOBOX_*`` environment variables; among them
an access token wins over an API key, which wins over a username and password.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

__all__ = ["CredentialKind", "Credentials"]

ENV_ACCESS_TOKEN = "GEOBOX_ACCESS_TOKEN"
ENV_APIKEY = "GEOBOX_APIKEY"
ENV_USERNAME = "GEOBOX_USERNAME"
ENV_PASSWORD = "GEOBOX_PASSWORD"


class CredentialKind(Enum):
    """How a client authenticates."""

    ACCESS_TOKEN = "access_token"
    APIKEY = "apikey"
    PASSWORD = "password"
    NONE = "none"


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """The credential material a client was given. Its repr never shows a secret."""

    access_token: str | None = None
    apikey: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def resolve(
        cls,
        *,
        access_token: str | None = None,
        apikey: str | None = None,
        username: str | None = None,
        password: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Credentials:
        """Combine explicit arguments with the environment, arguments first."""
        env = os.environ if environ is None else environ
        return cls(
            access_token=access_token or env.get(ENV_ACCESS_TOKEN) or None,
            apikey=apikey or env.get(ENV_APIKEY) or None,
            username=username or env.get(ENV_USERNAME) or None,
            password=password or env.get(ENV_PASSWORD) or None,
        )

    @property
    def kind(self) -> CredentialKind:
        """The credential that will be used: token, then API key, then username/password."""
        if self.access_token:
            return CredentialKind.ACCESS_TOKEN
        if self.apikey:
            return CredentialKind.APIKEY
        if self.username and self.password:
            return CredentialKind.PASSWORD
        return CredentialKind.NONE

    @property
    def identity(self) -> str:
        """A stable, non-secret fingerprint of the credential in use.

        Caches and limiters key on it so that two credentials never share state; it
        reveals nothing about the secret (a truncated SHA-256 of it).
        """
        kind = self.kind
        if kind is CredentialKind.ACCESS_TOKEN:
            material = self.access_token or ""
        elif kind is CredentialKind.APIKEY:
            material = self.apikey or ""
        elif kind is CredentialKind.PASSWORD:
            material = f"{self.username}\0{self.password}"
        else:
            return "anonymous"
        digest = hashlib.sha256(f"{kind.value}\0{material}".encode()).hexdigest()[:16]
        return f"{kind.value}:{digest}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value held (for redaction checks); the username is not secret."""
        return tuple(s for s in (self.access_token, self.apikey, self.password) if s)

    def __repr__(self) -> str:
        user = f", username={self.username!r}" if self.username else ""
        return f"Credentials(kind={self.kind.value!r}{user})"

    __str__ = __repr__
