"""Whether the call running in this task has sent a request yet.

The retry stage reports a spent deadline as :class:`~geobox_usage.GeoboxTimeoutError`;
whether the request may have reached the server decides whether a caller may repeat a
non-idempotent call. A deadline spent waiting (a pause the server asked for, the rate
limiter) sent nothing, and must not say otherwise. The transport marks the moment it
starts to send; the retry stage resets the mark for each call and reads it at the
deadline.
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["request_started"]

request_started: ContextVar[bool] = ContextVar("geobox_usage_request_started", default=False)
"""``True`` once the transport started sending a request of the current call."""
