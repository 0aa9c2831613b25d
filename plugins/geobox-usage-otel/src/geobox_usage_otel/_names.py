"""The names the plugin writes: span and event names, attributes and instruments.

Attributes follow the OpenTelemetry HTTP client semantic conventions where one exists
(``http.request.method``, ``url.full``, ``server.address``, ``server.port``,
``http.response.status_code``, ``http.request.resend_count``, ``error.type``); the rest
live under ``geobox.``. Metric attributes are all bounded: an operation name, a method,
a status code, an error type, a cache result or a retry reason; never a user id, a
request id or a query.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ATTEMPT",
    "ATTEMPTS",
    "AUTH_REASON",
    "BREAKER_FAILURES",
    "BREAKER_NEW_STATE",
    "BREAKER_OLD_STATE",
    "BREAKER_RETRY_IN",
    "CACHE_RESULT",
    "ERROR_TYPE",
    "GIVE_UP_REASON",
    "HTTP_METHOD",
    "HTTP_RESEND_COUNT",
    "HTTP_STATUS_CODE",
    "INSTRUMENTATION_NAME",
    "METRIC_BREAKER_TRANSITIONS",
    "METRIC_CACHE_RESULTS",
    "METRIC_CALL_DURATION",
    "METRIC_HTTP_DURATION",
    "METRIC_LIMITER_WAITS",
    "METRIC_RETRIES",
    "METRIC_TOKEN_FETCHES",
    "OPERATION",
    "OUTCOME",
    "RATE",
    "RATE_LIMIT_REASON",
    "REQUEST_ID",
    "RETRY_REASON",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "URL_FULL",
    "URL_TEMPLATE",
    "WAIT_REASON",
    "WAIT_S",
    "error_type",
]

INSTRUMENTATION_NAME: Final = "geobox_usage_otel"
"""The tracer's and the meter's instrumentation scope."""

# -- semantic conventions (HTTP client) ---------------------------------------------------
HTTP_METHOD: Final = "http.request.method"
HTTP_STATUS_CODE: Final = "http.response.status_code"
HTTP_RESEND_COUNT: Final = "http.request.resend_count"
URL_FULL: Final = "url.full"
URL_TEMPLATE: Final = "url.template"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

# -- geobox ------------------------------------------------------------------------------
OPERATION: Final = "geobox.operation"
REQUEST_ID: Final = "geobox.request_id"
ATTEMPT: Final = "geobox.attempt"
ATTEMPTS: Final = "geobox.attempts"
OUTCOME: Final = "geobox.outcome"
CACHE_RESULT: Final = "geobox.cache.result"
RETRY_REASON: Final = "geobox.retry.reason"
WAIT_REASON: Final = "geobox.wait.reason"
WAIT_S: Final = "geobox.wait.seconds"
GIVE_UP_REASON: Final = "geobox.retry.give_up_reason"
BREAKER_OLD_STATE: Final = "geobox.breaker.old_state"
BREAKER_NEW_STATE: Final = "geobox.breaker.new_state"
BREAKER_FAILURES: Final = "geobox.breaker.failures"
BREAKER_RETRY_IN: Final = "geobox.breaker.retry_in"
RATE: Final = "geobox.rate_limit.rate"
RATE_LIMIT_REASON: Final = "geobox.rate_limit.reason"
AUTH_REASON: Final = "geobox.auth.reason"

# -- instruments -------------------------------------------------------------------------
METRIC_HTTP_DURATION: Final = "http.client.request.duration"
METRIC_CALL_DURATION: Final = "geobox.client.call.duration"
METRIC_RETRIES: Final = "geobox.client.retries"
METRIC_CACHE_RESULTS: Final = "geobox.client.cache.results"
METRIC_BREAKER_TRANSITIONS: Final = "geobox.client.breaker.transitions"
METRIC_LIMITER_WAITS: Final = "geobox.client.rate_limit.waits"
METRIC_TOKEN_FETCHES: Final = "geobox.client.token.fetches"


def error_type(error: BaseException) -> str:
    """The ``error.type`` of a failure: its HTTP status when it has one, else its class.

    As the semantic conventions ask, an answer's status code (``"503"``) names an HTTP
    error; anything else is named by its exception class (``"TransportError"``,
    ``"CircuitOpenError"``, ``"CancelledError"``). Both sets are small and fixed.
    """
    status = getattr(error, "status", None)
    if isinstance(status, int) and not isinstance(status, bool):
        return str(status)
    return type(error).__name__
