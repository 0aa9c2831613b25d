"""A custom auth plugin: tokens from the host application's own secret store.

It replaces the built-in ``auth`` plugin (same ``plugin_name``), so the client needs no
credentials of its own. The token is asked of the store once and kept (as a ``Secret``,
so no repr, log or traceback shows it); when the server answers 401, the store is asked
again, once for all the calls that hit the 401 together, and each of them is repeated
once with the new token. That is how a rotated token is picked up without rebuilding
the client. ``authenticate`` fetches the first token on ``async with``, as the built-in
password auth does, so a store that cannot give one fails there.

Run it with ``python custom_auth.py``: the host comes from ``GEOBOX_HOST``, and this
example's stand-in for a secret store reads ``GEOBOX_ACCESS_TOKEN``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable

from geobox_usage import (
    AsyncGeoboxClient,
    AuthenticationError,
    Handler,
    PipelineContext,
    PipelineStage,
    Request,
    Response,
    Secret,
    Slot,
    hookimpl,
)

TokenSource = Callable[[], Awaitable[str]]


class VaultTokenAuth:
    """Sends ``Authorization: Bearer <token>`` with a token from ``source``, refreshed
    from it when the server answers 401."""

    plugin_name = "auth"  # replaces the built-in auth plugin

    def __init__(self, source: TokenSource, *, account: str) -> None:
        self._source = source
        self._account = account
        self._token: Secret | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def _current(self, stale: Secret | None) -> Secret:
        """The token to use instead of ``stale``: one store call for all who ask at once."""
        async with self._lock:
            if self._token is None or self._token == stale:  # re-checked under the lock
                self._token = Secret(await self._source())
                self.fetches += 1
            return self._token

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        token = self._token or await self._current(None)
        try:
            return await call_next(_with(request, token))
        except AuthenticationError:
            fresh = await self._current(token)
            if fresh == token:
                raise
            return await call_next(_with(request, fresh))  # repeated once, never more

    async def authenticate(self, request: Request, call_next: Handler) -> None:
        """Called on ``async with``: fetch the first token now."""
        await self._current(None)

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> PipelineStage:
        return PipelineStage(name="vault-auth", slot=Slot.AUTH, stage=self)

    @hookimpl
    def geobox_usage_credential_identity(self, context: PipelineContext) -> str:
        # Caches and limiters key on this: name the account, never the token.
        return "vault:" + hashlib.sha256(self._account.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"VaultTokenAuth(account={self._account!r}, token=***)"


def _with(request: Request, token: Secret) -> Request:
    return request.with_header("Authorization", Secret(f"Bearer {token.reveal()}"))


async def token_from_environment() -> str:
    """A stand-in for the application's secret store."""
    return os.environ["GEOBOX_ACCESS_TOKEN"]


async def main() -> None:
    host = os.environ.get("GEOBOX_HOST", "https://api.geobox.ir")
    auth = VaultTokenAuth(token_from_environment, account="reporting")
    async with AsyncGeoboxClient(host, plugins=[auth]) as client:
        print(client.pipeline.names)
        print(await client.get_usage_summary())


if __name__ == "__main__":
    asyncio.run(main())
