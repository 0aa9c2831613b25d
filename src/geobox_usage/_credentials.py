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

from geobox_usage._secret import Secret

__all__ = ["CredentialKind", "Credentials", "is_header_safe"]

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
    """The credential material a client was given. Its repr never shows a secret.

    Attributes:
        access_token: a bearer token, masked.
        apikey: an API key, masked.
        username: the account name (not a secret).
        password: the account password, masked.
        host: the API host the credential is for (``api.geobox.ir``), which a username
            needs to name one account.
    """

    access_token: Secret | None = None
    apikey: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    host: str = ""

    @classmethod
    def resolve(
        cls,
        *,
        access_token: str | Secret | None = None,
        apikey: str | Secret | None = None,
        username: str | None = None,
        password: str | Secret | None = None,
        host: str = "",
        environ: Mapping[str, str] | None = None,
    ) -> Credentials:
        """Combine explicit arguments with the environment, arguments first.

        Raises:
            ValueError: a credential that is not a string (naming the argument, never
                showing the value), or an access token that cannot be sent in a header.
        """
        env = os.environ if environ is None else environ
        token = _secret("access_token", access_token) or _secret(
            ENV_ACCESS_TOKEN, env.get(ENV_ACCESS_TOKEN)
        )
        if token is not None and not is_header_safe(token.reveal()):
            raise ValueError(
                "access_token holds a line break or a control character, which an "
                "Authorization header cannot carry; check how the token was read"
            )
        if username is not None and not isinstance(username, str):
            raise ValueError(f"username must be a string, got {type(username).__name__}")
        return cls(
            access_token=token,
            apikey=_secret("apikey", apikey) or _secret(ENV_APIKEY, env.get(ENV_APIKEY)),
            username=username or env.get(ENV_USERNAME) or None,
            password=_secret("password", password) or _secret(ENV_PASSWORD, env.get(ENV_PASSWORD)),
            host=host,
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
        """A stable, non-secret name of the credential in use: the same in every process
        and on every host, so that shared state (a cache, a limiter in Redis) can key on it.

        For a token or an API key it is a truncated SHA-256 of it: they are long random
        strings, which no guess can recover from a hash. For a username and password it
        is a hash of the host and the username alone: a password is short enough to be
        guessed from any value derived from it, so it is never an input.
        """
        kind = self.kind
        if kind is CredentialKind.ACCESS_TOKEN and self.access_token is not None:
            material = self.access_token.reveal()
        elif kind is CredentialKind.APIKEY and self.apikey is not None:
            material = self.apikey.reveal()
        elif kind is CredentialKind.PASSWORD:
            material = f"{self.host}\0{self.username}"
        else:
            return "anonymous"
        digest = hashlib.sha256(f"{kind.value}\0{material}".encode()).hexdigest()[:16]
        return f"{kind.value}:{digest}"

    def __repr__(self) -> str:
        user = f", username={self.username!r}" if self.username else ""
        return f"Credentials(kind={self.kind.value!r}{user})"

    __str__ = __repr__


def _secret(name: str, value: object) -> Secret | None:
    if value is None or value == "":
        return None
    if isinstance(value, Secret):
        return value if value else None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    return Secret(value)


def is_header_safe(value: str) -> bool:
    """Whether ``value`` can be sent in an HTTP header: no line break, no control character."""
    return value.isprintable()
