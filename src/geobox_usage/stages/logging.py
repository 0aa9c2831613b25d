"""The logging stage: one ``geobox.call`` event per call, the audit, and the other stages' events.

It sits outermost, so it sees each call once, whatever the cache, retries or auth did
inside it, and its duration is the caller's.

* ``geobox.call`` (WARNING when the call failed, else INFO): ``operation``,
  ``method``, ``path``, ``query`` (redacted, an API key given as ``eid`` included), ``target``,
  ``status``, ``duration_ms``, ``attempts``, ``cache`` (``hit``, ``miss``, ``stale`` or
  ``coalesced``), ``geobox_request_id``, ``outcome`` (``ok``, ``error``,
  ``cancelled``), ``error_type`` and ``error``; a field without a value is left out.
* ``geobox.audit`` for every state-changing (non-idempotent) call, success, failure
  or cancellation alike: ``actor`` (``user:<id>`` once the credential's user is known
  from a ``get_user()`` call, else ``apikey:<id>`` once the key's id is known from a
  ``get_apikey()`` of that very key, else the credential's non-secret fingerprint),
  ``actor_kind`` (``access_token``, ``apikey``, ``password``), ``identity``,
  ``operation``, ``target`` (``"me"`` resolved to the user id when known),
  ``outcome``, ``status``, ``error_type``, ``geobox_request_id``. See
  :func:`geobox_usage.logs._emit.emit_audit` for why level filters do not drop it.
* The pipeline's events, through a listener: ``geobox.attempt`` (DEBUG for a first
  attempt that succeeded, whose data the call event repeats; INFO for a failed attempt
  or one followed by a wait; WARNING when the retry stage gives up), ``geobox.breaker``
  (WARNING when a circuit opens, else INFO), ``geobox.ratelimit`` and ``geobox.auth``
  (INFO); any other event at DEBUG.

The call's request id is logged as ``geobox_request_id`` (a pipeline event's
``request_id`` field is renamed so), never as ``request_id``: a host application that
binds its own ``request_id`` with ``structlog.contextvars`` keeps it in every event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from geobox_usage._credentials import CredentialKind, Credentials
from geobox_usage._messages import Request, Response
from geobox_usage._redact import redacted_query
from geobox_usage._secret import Secret
from geobox_usage.errors import HTTPStatusError, ResponseDecodeError
from geobox_usage.events import EventListener, PipelineEvent
from geobox_usage.hookspecs import hookimpl
from geobox_usage.logs._emit import emit, emit_audit, enabled
from geobox_usage.logs._processors import redact_text
from geobox_usage.logs._request_id import LOG_FIELD
from geobox_usage.pipeline import Handler, PipelineContext, PipelineStage, Slot

__all__ = ["LoggingStage", "geobox_usage_listener", "geobox_usage_stage", "log_pipeline_event"]

_INFO = logging.INFO
_WARNING = logging.WARNING


class LoggingStage:
    """Logs each call and audits each state-changing one; see the module docstring.

    Args:
        identity: the credential's non-secret fingerprint.
        kind: the kind of credential in use.
    """

    __slots__ = ("_identity", "_key_id", "_kind", "_user_id")

    def __init__(self, identity: str, kind: CredentialKind) -> None:
        self._identity = identity
        self._kind = kind
        self._user_id: int | None = None
        self._key_id: int | None = None

    @property
    def actor(self) -> str:
        """Who the client acts as, as the audit names it (never a secret)."""
        if self._user_id is not None:
            return f"user:{self._user_id}"
        if self._key_id is not None:
            return f"apikey:{self._key_id}"
        return self._identity

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except asyncio.CancelledError:
            self._finish(request, started, None, None, cancelled=True)
            raise
        except Exception as exc:
            self._finish(request, started, None, exc)
            raise
        if request.spec.name in _LEARNT_FROM:
            self._learn(request, response)
        self._finish(request, started, response, None)
        return response

    def _finish(
        self,
        request: Request,
        started: float,
        response: Response | None,
        error: Exception | None,
        *,
        cancelled: bool = False,
    ) -> None:
        level = _WARNING if error is not None else _INFO
        spec = request.spec
        audited = not spec.idempotent
        if not audited and not enabled(level):
            return  # the common case at WARNING: nothing is built
        # Whole microseconds as milliseconds: the same three decimals as
        # ``round(ms, 3)`` (bar ties), at half its cost.
        duration_ms = int((time.perf_counter() - started) * 1e6 + 0.5) / 1000.0
        outcome = "cancelled" if cancelled else "error" if error is not None else "ok"
        status = response.status if response is not None else _error_status(error)
        if audited:
            emit_audit(
                {
                    "actor": self.actor,
                    "actor_kind": self._kind.value,
                    "identity": self._identity,
                    "operation": spec.name,
                    "target": self._resolve(request.target),
                    "outcome": outcome,
                    "status": status,
                    "error_type": type(error).__name__ if error is not None else None,
                    LOG_FIELD: request.request_id,
                }
            )
        if audited and not enabled(level):
            return
        # Every field is built from redacted or secret-free parts (the query by
        # ``redacted_query``, the path from the spec and checked ids) except the two
        # texts that may quote someone else: the error (a server's detail) and the
        # request id (the host's); those are redacted here, not the whole event.
        # A field without a value is left out rather than written as null (as
        # OpenTelemetry sets ``error.type`` only on failure): each field costs a host's
        # structlog JSON chain about 4,000 instructions, on every call.
        fields: dict[str, Any] = {
            "operation": spec.name,
            "method": spec.method,
            "path": request.path,
            "query": redacted_query(request.params),
        }
        target = request.target
        if target is not None:
            fields["target"] = target
        if status is not None:
            fields["status"] = status
        fields["duration_ms"] = duration_ms
        if response is not None:
            fields["attempts"] = response.attempts
            if response.cache is not None:
                fields["cache"] = response.cache
        else:
            attempts = _attempts(error)
            if attempts is not None:
                fields["attempts"] = attempts
        fields[LOG_FIELD] = redact_text(request.request_id)
        fields["outcome"] = outcome
        if error is not None:
            fields["error_type"] = type(error).__name__
            fields["error"] = redact_text(str(error))
        emit(level, "geobox.call", fields, redacted=True)

    def _learn(self, request: Request, response: Response) -> None:
        """Remember who the credential is, from answers that say so, for the audit."""
        name = request.operation
        if name == "get_user" and request.target == "me":
            self._user_id = _int_field(response.data, "id") or self._user_id
        elif name == "get_apikey" and self._kind is CredentialKind.APIKEY and self._key_id is None:
            data = response.data
            key = data.get("key") if isinstance(data, dict) else None
            if isinstance(key, str) and Credentials(apikey=Secret(key)).identity == self._identity:
                self._key_id = _int_field(data, "id")

    def _resolve(self, target: str | None) -> str | None:
        if target == "me" and self._user_id is not None:
            return str(self._user_id)
        return target

    def __repr__(self) -> str:
        return f"LoggingStage(actor={self.actor!r})"


_LEARNT_FROM = frozenset({"get_user", "get_apikey"})
"""The operations whose answers tell who the credential is (see ``_learn``)."""


def _error_status(error: Exception | None) -> int | None:
    """The HTTP status an error carries, if the server answered at all."""
    if isinstance(error, HTTPStatusError | ResponseDecodeError):
        return error.status
    return None


def _attempts(error: Exception | None) -> int | None:
    attempts = getattr(error, "attempts", None)
    return attempts if isinstance(attempts, int) else None


def _int_field(data: Any, name: str) -> int | None:
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _PipelineEventLogger:
    """The listener that logs pipeline events; it wants only what a logger would keep."""

    __slots__ = ()

    def __call__(self, event: PipelineEvent) -> None:
        log_pipeline_event(event)

    @staticmethod
    def wants(name: str, level: int) -> bool:
        return enabled(level)


_PIPELINE_EVENT_LOGGER = _PipelineEventLogger()


def log_pipeline_event(event: PipelineEvent) -> None:
    """Turn a pipeline event into a log event at the level its content calls for."""
    fields = event.fields
    name = event.name
    if name == "geobox.attempt":
        if fields.get("give_up_reason"):
            level = logging.WARNING
        elif (
            fields.get("outcome") == "ok"
            and fields.get("attempt", 1) == 1
            and not fields.get("will_retry")
        ):
            level = logging.DEBUG
        else:
            level = logging.INFO
    elif name == "geobox.breaker":
        level = logging.WARNING if fields.get("new_state") == "open" else logging.INFO
    elif name in ("geobox.ratelimit", "geobox.auth"):
        level = logging.INFO
    else:
        level = logging.DEBUG
    if enabled(level):
        logged = dict(fields)
        if "request_id" in logged:
            logged[LOG_FIELD] = logged.pop("request_id")
        emit(level, name, logged)


@hookimpl
def geobox_usage_stage(context: PipelineContext) -> PipelineStage:
    """The built-in logging stage, outermost."""
    stage = LoggingStage(context.identity, context.credentials.kind)
    return PipelineStage(name="logging", slot=Slot.LOGGING, stage=stage)


@hookimpl
def geobox_usage_listener(context: PipelineContext) -> EventListener:
    """Log the other stages' events (attempts, waits, breaker, rate limit, auth)."""
    return _PIPELINE_EVENT_LOGGER
