"""Authentication: an access token, an API key, or a username and password.

With a username and password the token is fetched lazily, once, and refreshed before
it expires. When the server says ``Token expired``, exactly one refresh runs however
many calls hit that answer at once (single flight under a lock, re-checked after the
lock is taken), and each of those calls is repeated once with the new token. Wrong
credentials end in :class:`~geobox_usage.AuthenticationError` at once, with no loop.
A caller cancelled while waiting for a refresh gives up its place; the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from urllib.parse import urlencode

from geobox_usage._clock import Clock
from geobox_usage._credentials import CredentialKind, Credentials
from geobox_usage._messages import Request, Response
from geobox_usage._spec import RequestSpec, decode_object
from geobox_usage.errors import (
    AuthenticationError,
    GeoboxError,
    ResponseDecodeError,
    copy_for_caller,
)
from geobox_usage.events import EventBus
from geobox_usage.hookspecs import hookimpl
from geobox_usage.pipeline import Handler, PipelineContext, PipelineStage, Slot

__all__ = [
    "ApiKeyAuth",
    "BearerTokenAuth",
    "PasswordAuth",
    "TOKEN_SPEC",
    "is_token_expired",
]

TOKEN_SPEC: RequestSpec[dict[str, object]] = RequestSpec(
    name="auth_token",
    method="POST",
    path="auth/token/",
    idempotent=True,
    decode=decode_object,
)
"""``POST auth/token/``: trading a username and password for an access token. Asking
twice only issues two tokens, so it is safe to repeat."""

NO_CREDENTIALS_MESSAGE = (
    "no credentials: pass access_token=, apikey=, or username= and password= to "
    "AsyncGeoboxClient, or set GEOBOX_ACCESS_TOKEN, GEOBOX_APIKEY, or GEOBOX_USERNAME "
    "and GEOBOX_PASSWORD"
)


def is_token_expired(error: AuthenticationError) -> bool:
    """Whether a 401 says the presented token expired (rather than being wrong)."""
    detail = error.detail
    return isinstance(detail, str) and "expired" in detail.lower()


class BearerTokenAuth:
    """Sends a fixed access token as ``Authorization: Bearer``."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        return await call_next(request.with_header("Authorization", self._header))

    def __repr__(self) -> str:
        return "BearerTokenAuth(token=***)"


class ApiKeyAuth:
    """Sends an API key as the ``apikey`` query parameter, as the contract requires."""

    def __init__(self, apikey: str) -> None:
        self._apikey = apikey

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        return await call_next(request.with_param("apikey", self._apikey))

    def __repr__(self) -> str:
        return "ApiKeyAuth(apikey=***)"


class PasswordAuth:
    """Trades a username and password for a token, and keeps the token fresh.

    Args:
        username: the account name.
        password: the account password.
        token_url: the absolute URL of ``auth/token/``.
        clock: for token expiry.
        events: where ``geobox.auth`` events go.
    """

    #: Refresh this long before the server's ``expires_in`` runs out (at most 10% of it).
    EXPIRY_MARGIN_S = 30.0

    def __init__(
        self, username: str, password: str, token_url: str, clock: Clock, events: EventBus
    ) -> None:
        self._form = urlencode({"username": username, "password": password}).encode()
        self._token_url = token_url
        self._clock = clock
        self._events = events
        self._token: str | None = None
        self._expires_at = float("inf")
        self._refreshing: asyncio.Task[str] | None = None
        self._waiting = 0  # callers awaiting ``_refreshing``
        self._rejected: AuthenticationError | None = None

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        token = await self._valid_token(request, call_next)
        try:
            return await call_next(request.with_header("Authorization", f"Bearer {token}"))
        except AuthenticationError as exc:
            if not is_token_expired(exc):
                raise
            token = await self._refresh(request, call_next, stale=token, reason="expired")
            return await call_next(request.with_header("Authorization", f"Bearer {token}"))

    async def _valid_token(self, request: Request, call_next: Handler) -> str:
        token = self._token
        if token is not None and self._clock.monotonic() < self._expires_at:
            return token
        reason = "first use" if token is None else "expiring"
        return await self._refresh(request, call_next, stale=token, reason=reason)

    async def _refresh(
        self, request: Request, call_next: Handler, *, stale: str | None, reason: str
    ) -> str:
        """The token to use instead of ``stale``: fetched once for all who ask at once.

        The fetch runs in its own task that every caller awaits through
        :func:`asyncio.shield`, so a caller cancelled while it waits (even the one whose
        request started the fetch) leaves alone and the others still get the one token.
        When the last caller waiting for it is cancelled, the fetch is cancelled too: no
        one is left to use its token, and the next call starts afresh.
        """
        if self._rejected is not None:
            raise self._rejection(request)
        current = self._token
        if current is not None and current != stale and self._clock.monotonic() < self._expires_at:
            return current  # another caller refreshed meanwhile
        task = self._refreshing
        if task is None:
            task = asyncio.create_task(self._fetch(request, call_next, reason))
            task.add_done_callback(self._fetch_done)
            self._refreshing = task
        self._waiting += 1
        try:
            return await asyncio.shield(task)
        except AuthenticationError:
            raise self._rejection(request) from None
        except GeoboxError as exc:
            raise copy_for_caller(exc) from exc.__cause__
        finally:
            self._waiting -= 1
            if self._waiting == 0 and not task.done():
                task.cancel()
                if self._refreshing is task:
                    self._refreshing = None

    async def _fetch(self, request: Request, call_next: Handler, reason: str) -> str:
        try:
            answer = await call_next(self._token_request(request))
        except AuthenticationError as exc:
            # Wrong credentials stay wrong for this client's lifetime: remember it so
            # that later calls fail at once instead of each asking again.
            self._rejected = exc
            raise
        token, expires_in = self._read_token(answer)
        self._token = token
        self._expires_at = self._expiry(expires_in)
        self._events.emit(
            "geobox.auth",
            action="token_obtained",
            reason=reason,
            expires_in=expires_in,
            request_id=request.request_id,
        )
        return token

    def _fetch_done(self, task: asyncio.Task[str]) -> None:
        if self._refreshing is task:
            self._refreshing = None
        if not task.cancelled():
            task.exception()  # retrieved here, so a fetch nobody awaited any more is quiet

    async def aclose(self) -> None:
        """Cancel a token fetch still in flight (its callers are gone with the client)."""
        task = self._refreshing
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _rejection(self, request: Request) -> AuthenticationError:
        rejected = self._rejected
        assert rejected is not None
        return AuthenticationError(
            status=rejected.status,
            method=rejected.method,
            url=rejected.url,
            detail=rejected.detail,
            body=rejected.body,
            operation=TOKEN_SPEC.name,
            request_id=request.request_id,
        )

    def _token_request(self, request: Request) -> Request:
        return replace(
            request,
            spec=TOKEN_SPEC,
            url=self._token_url,
            params=(),
            headers=(
                ("Accept", "application/json"),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("X-Request-ID", request.request_id),
            ),
            body=self._form,
            target=None,
        )

    def _read_token(self, answer: Response) -> tuple[str, float | None]:
        data = answer.data
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise ResponseDecodeError(
                "auth_token: the token answer has no access_token",
                status=answer.status,
                body="<withheld: may hold a token>",
                operation=TOKEN_SPEC.name,
                request_id=answer.request_id,
            )
        expires_in = data.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            return token, None
        return token, float(expires_in)

    def _expiry(self, expires_in: float | None) -> float:
        if expires_in is None:
            return float("inf")
        margin = min(self.EXPIRY_MARGIN_S, expires_in * 0.1)
        return self._clock.monotonic() + max(0.0, expires_in - margin)

    def __repr__(self) -> str:
        state = "token held" if self._token else "no token yet"
        return f"PasswordAuth(password=***, {state})"


def make_auth(
    credentials: Credentials, base_url: str, clock: Clock, events: EventBus
) -> BearerTokenAuth | ApiKeyAuth | PasswordAuth:
    """The auth stage for ``credentials``; ``ValueError`` when there are none."""
    kind = credentials.kind
    if kind is CredentialKind.ACCESS_TOKEN and credentials.access_token:
        return BearerTokenAuth(credentials.access_token)
    if kind is CredentialKind.APIKEY and credentials.apikey:
        return ApiKeyAuth(credentials.apikey)
    if kind is CredentialKind.PASSWORD and credentials.username and credentials.password:
        return PasswordAuth(
            credentials.username,
            credentials.password,
            base_url + TOKEN_SPEC.path,
            clock,
            events,
        )
    raise ValueError(NO_CREDENTIALS_MESSAGE)


@hookimpl
def geobox_usage_stage(context: PipelineContext) -> PipelineStage:
    """The built-in auth stage, for the credential the client was given."""
    stage = make_auth(context.credentials, context.base_url, context.clock, context.events)
    aclose = stage.aclose if isinstance(stage, PasswordAuth) else None
    return PipelineStage(name="auth", slot=Slot.AUTH, stage=stage, aclose=aclose)


@hookimpl
def geobox_usage_credential_identity(context: PipelineContext) -> str:
    """A fingerprint of the configured credential (never the credential itself)."""
    return context.credentials.identity
