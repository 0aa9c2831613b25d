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
import json
import math
from urllib.parse import urlencode

from geobox_usage._clock import Clock
from geobox_usage._credentials import CredentialKind, Credentials, is_header_safe
from geobox_usage._messages import Request, Response
from geobox_usage._secret import Secret
from geobox_usage._spec import DecodeProblem, RequestSpec, decode_object
from geobox_usage.errors import (
    AuthenticationError,
    ClientClosedError,
    GeoboxError,
    ResponseDecodeError,
    copy_for_caller,
)
from geobox_usage.events import EventBus
from geobox_usage.hookspecs import hookimpl
from geobox_usage.pipeline import Handler, PipelineContext, PipelineStage, Slot

__all__ = [
    "ApiKeyAuth",
    "bearer",
    "BearerTokenAuth",
    "PasswordAuth",
    "TOKEN_SPEC",
    "is_token_expired",
]


def _decode_token_answer(body: bytes) -> dict[str, object]:
    """The token answer as an object. Unlike the usage answers, it is read leniently
    (``NaN`` or ``Infinity`` as ``expires_in`` is taken as an unknown lifetime, not a
    reason to refuse a good token); it must still be a JSON object."""
    try:
        value = json.loads(body)
    except (RecursionError, ValueError):
        return decode_object(body)  # raises the same DecodeProblem as any answer
    if not isinstance(value, dict):
        raise DecodeProblem(f"expected a JSON object, got {type(value).__name__}")
    return value


TOKEN_SPEC: RequestSpec[dict[str, object]] = RequestSpec(
    name="auth_token",
    method="POST",
    path="auth/token/",
    idempotent=True,
    decode=_decode_token_answer,
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


def bearer(token: Secret) -> Secret:
    """The ``Authorization`` header value for ``token``, itself a secret."""
    return Secret(f"Bearer {token.reveal()}")


class BearerTokenAuth:
    """Sends a fixed access token as ``Authorization: Bearer``."""

    def __init__(self, token: Secret) -> None:
        self._header = bearer(token)

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        return await call_next(request.with_header("Authorization", self._header))

    def __repr__(self) -> str:
        return "BearerTokenAuth(token=***)"


class ApiKeyAuth:
    """Sends an API key as the ``apikey`` query parameter, as the contract requires."""

    def __init__(self, apikey: Secret) -> None:
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
        self, username: str, password: Secret, token_url: str, clock: Clock, events: EventBus
    ) -> None:
        self._form = _login_form(username, password)
        self._token_url = token_url
        self._clock = clock
        self._events = events
        self._token: Secret | None = None
        self._expires_at = float("inf")
        self._refreshing: asyncio.Task[Secret] | None = None
        self._waiting = 0  # callers awaiting ``_refreshing``
        self._rejected: AuthenticationError | None = None
        self._closed = False

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        token = await self._valid_token(request, call_next)
        try:
            return await call_next(request.with_header("Authorization", bearer(token)))
        except AuthenticationError as exc:
            if not is_token_expired(exc):
                raise
            token = await self._refresh(request, call_next, stale=token, reason="expired")
            return await call_next(request.with_header("Authorization", bearer(token)))

    async def authenticate(self, request: Request, call_next: Handler) -> None:
        """Fetch a token now unless one is held (the client logs in on ``async with``):
        wrong credentials raise :class:`AuthenticationError` here, not on a later call."""
        await self._valid_token(request, call_next)

    async def _valid_token(self, request: Request, call_next: Handler) -> Secret:
        token = self._token
        if token is not None and self._clock.monotonic() < self._expires_at:
            return token
        reason = "first use" if token is None else "expiring"
        return await self._refresh(request, call_next, stale=token, reason=reason)

    async def _refresh(
        self, request: Request, call_next: Handler, *, stale: Secret | None, reason: str
    ) -> Secret:
        """The token to use instead of ``stale``: fetched once for all who ask at once.

        The fetch runs in its own task that every caller awaits through
        :func:`asyncio.shield`, so a caller cancelled while it waits (even the one whose
        request started the fetch) leaves alone and the others still get the one token.
        When the last caller waiting for it is cancelled, the fetch is cancelled too: no
        one is left to use its token, and the next call starts afresh. A fetch cut by
        :meth:`aclose` ends its callers with :class:`~geobox_usage.ClientClosedError`,
        not with a cancellation nobody asked for.
        """
        if self._closed:
            raise self._closed_error(request)
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
        except asyncio.CancelledError:
            if not self._closed or _cancelling():
                raise  # this caller was cancelled: its own cancellation goes on
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
        raise self._closed_error(request)  # outside ``except``: no cancellation as context

    async def _fetch(self, request: Request, call_next: Handler, reason: str) -> Secret:
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

    def _fetch_done(self, task: asyncio.Task[Secret]) -> None:
        if self._refreshing is task:
            self._refreshing = None
        if not task.cancelled():
            task.exception()  # retrieved here, so a fetch nobody awaited any more is quiet

    async def aclose(self) -> None:
        """Cancel a token fetch still in flight; its callers end with
        :class:`~geobox_usage.ClientClosedError`, and later calls fail at once."""
        self._closed = True
        task = self._refreshing
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @staticmethod
    def _closed_error(request: Request) -> ClientClosedError:
        return ClientClosedError(
            f"{request.operation}: the client was closed while its access token was "
            "being fetched; nothing was sent. Create a new client to go on",
            operation=request.operation,
            request_id=request.request_id,
        )

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
        return request._replace(
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

    def _read_token(self, answer: Response) -> tuple[Secret, float | None]:
        """The token and its lifetime from the token answer.

        A missing token, or one that no header can carry (a line break, a control
        character), is a :class:`ResponseDecodeError`. An ``expires_in`` that is not a
        positive, finite number of seconds (0, negative, ``NaN``) is taken as unknown:
        the token is used until the server answers that it expired, rather than fetched
        anew before every call.
        """
        token = _secret_field(answer.data, "access_token")
        if token is None or not is_header_safe(token.reveal()):
            problem = (
                "has no access_token"
                if token is None
                else "has an access_token with a line break or a control character"
            )
            raise ResponseDecodeError(
                f"auth_token: the token answer {problem}, which cannot be sent",
                status=answer.status,
                body="<withheld: may hold a token>",
                operation=TOKEN_SPEC.name,
                request_id=answer.request_id,
            )
        expires_in = answer.data.get("expires_in") if isinstance(answer.data, dict) else None
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            return token, None
        if not math.isfinite(expires_in) or expires_in <= 0:
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


def _cancelling() -> bool:
    """Whether the running task has been asked to cancel (by its caller, not by us)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _login_form(username: str, password: Secret) -> bytes:
    return urlencode({"username": username, "password": password.reveal()}).encode()


def _secret_field(data: object, name: str) -> Secret | None:
    """``data[name]`` as a :class:`Secret` when it is a non-empty string, else ``None``."""
    value = data.get(name) if isinstance(data, dict) else None
    return Secret(value) if isinstance(value, str) and value else None


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
