"""A custom auth plugin: tokens from the host application's own secret store.

It replaces the built-in ``auth`` plugin (same ``plugin_name``), so the client needs no
credentials of its own. Each request asks the store for the current token, which lets
the application rotate tokens without rebuilding the client.

Run it with ``python custom_auth.py``: the host comes from ``GEOBOX_HOST``, and this
example's stand-in for a secret store reads ``GEOBOX_ACCESS_TOKEN`` on every call.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable

from geobox_usage import (
    AsyncGeoboxClient,
    Handler,
    PipelineContext,
    PipelineStage,
    Request,
    Response,
    Slot,
    hookimpl,
)

TokenSource = Callable[[], Awaitable[str]]


class VaultTokenAuth:
    """Sends ``Authorization: Bearer <token>`` with a token fetched from ``source``."""

    plugin_name = "auth"  # replaces the built-in auth plugin

    def __init__(self, source: TokenSource, *, account: str) -> None:
        self._source = source
        self._account = account

    async def _stage(self, request: Request, call_next: Handler) -> Response:
        token = await self._source()
        return await call_next(request.with_header("Authorization", f"Bearer {token}"))

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> PipelineStage:
        return PipelineStage(name="vault-auth", slot=Slot.AUTH, stage=self._stage)

    @hookimpl
    def geobox_usage_credential_identity(self, context: PipelineContext) -> str:
        # Caches and limiters key on this: name the account, never the token.
        return "vault:" + hashlib.sha256(self._account.encode()).hexdigest()[:16]


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
