"""Turns the pipeline's events into span events and counters.

The stages already report what they do (``geobox.attempt``, ``geobox.breaker``,
``geobox.ratelimit``, ``geobox.auth``); the listener puts each on the span that is
current where it was emitted (the call's span for retry decisions, rate limiter
changes and breaker transitions, which happen outside any attempt; the attempt's span
for a token fetched during it) and counts the ones worth a metric. Events it does not
know are ignored. It never builds an attribute dictionary for a span that does not
record, and its metric attribute sets are built once each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import get_current_span
from opentelemetry.util.types import AttributeValue

from geobox_usage import PipelineEvent
from geobox_usage_otel import _names as n
from geobox_usage_otel._telemetry import ClientTelemetry

__all__ = ["EventRecorder"]

Fields = Mapping[str, Any]


def _present(attributes: dict[str, AttributeValue | None]) -> dict[str, AttributeValue]:
    """``attributes`` without the ``None`` values (OpenTelemetry refuses them)."""
    return {k: v for k, v in attributes.items() if v is not None}


class EventRecorder:
    """The plugin's ``geobox_usage_listener``: one per client."""

    __slots__ = ("_handlers", "_telemetry")

    def __init__(self, telemetry: ClientTelemetry) -> None:
        self._telemetry = telemetry
        self._handlers: dict[str, Callable[[Fields], None]] = {
            "geobox.attempt": self._attempt,
            "geobox.breaker": self._breaker,
            "geobox.ratelimit": self._rate_limit,
            "geobox.auth": self._auth,
        }

    def __call__(self, event: PipelineEvent) -> None:
        handler = self._handlers.get(event.name)
        if handler is not None:
            handler(event.fields)

    def _attempt(self, fields: Fields) -> None:
        retried = fields.get("will_retry")
        gave_up = fields.get("give_up_reason")
        if not retried and gave_up is None:
            return  # a successful attempt: its span says it all
        status = fields.get("status")
        reason = str(status) if isinstance(status, int) else str(fields.get("error_type"))
        operation = str(fields.get("operation"))
        span = get_current_span()
        if retried:
            wait_reason = str(fields.get("wait_reason"))
            labels = self._telemetry.labels(
                ("retry", operation, reason, wait_reason),
                lambda: {
                    n.OPERATION: operation,
                    n.RETRY_REASON: reason,
                    n.WAIT_REASON: wait_reason,
                },
            )
            self._telemetry.instruments.retries.add(1, labels)
            if span.is_recording():
                span.add_event(
                    "geobox.retry",
                    _present(
                        {
                            n.ATTEMPT: fields.get("attempt"),
                            n.RETRY_REASON: reason,
                            n.WAIT_REASON: wait_reason,
                            n.WAIT_S: fields.get("wait_s"),
                        }
                    ),
                )
        elif span.is_recording():
            span.add_event(
                "geobox.give_up",
                _present(
                    {
                        n.ATTEMPT: fields.get("attempt"),
                        n.RETRY_REASON: reason,
                        n.GIVE_UP_REASON: str(gave_up),
                    }
                ),
            )

    def _breaker(self, fields: Fields) -> None:
        host = str(fields.get("host"))
        old, new = str(fields.get("old_state")), str(fields.get("new_state"))
        labels = self._telemetry.labels(
            ("breaker", host, old, new),
            lambda: {n.SERVER_ADDRESS: host, n.BREAKER_OLD_STATE: old, n.BREAKER_NEW_STATE: new},
        )
        self._telemetry.instruments.breaker_transitions.add(1, labels)
        span = get_current_span()
        if span.is_recording():
            span.add_event(
                "geobox.breaker.transition",
                _present(
                    {
                        n.SERVER_ADDRESS: host,
                        n.BREAKER_OLD_STATE: old,
                        n.BREAKER_NEW_STATE: new,
                        n.BREAKER_FAILURES: fields.get("failures"),
                    }
                ),
            )

    def _rate_limit(self, fields: Fields) -> None:
        span = get_current_span()
        if span.is_recording():
            span.add_event(
                f"geobox.rate_limit.{fields.get('action')}",
                _present(
                    {
                        n.RATE: fields.get("rate"),
                        n.RATE_LIMIT_REASON: fields.get("reason"),
                        n.WAIT_S: fields.get("pause_s"),
                    }
                ),
            )

    def _auth(self, fields: Fields) -> None:
        if fields.get("action") != "token_obtained":
            return
        reason = str(fields.get("reason"))
        labels = self._telemetry.labels(("token", reason), lambda: {n.AUTH_REASON: reason})
        self._telemetry.instruments.token_fetches.add(1, labels)
        span = get_current_span()
        if span.is_recording():
            span.add_event(
                "geobox.auth.token",
                _present(
                    {n.AUTH_REASON: reason, "geobox.auth.expires_in": fields.get("expires_in")}
                ),
            )
