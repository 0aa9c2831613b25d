"""Structured logs: where the library's events go, request ids, redaction, the demo setup.

The library never configures logging. It emits through structlog's
``get_logger("geobox_usage")`` when the host configured structlog, and otherwise
through the standard-library logger ``geobox_usage`` as structured records; audit
events go to ``geobox_usage.audit``. See ``docs/stages/logging.md``.

Public names:

* :func:`request_id`: a context manager making the calls in its block send a given
  ``X-Request-ID``; :func:`current_request_id` reads it; :func:`host_request_id`
  reads the host's own id from structlog's contextvars; :data:`LOG_FIELD` is the
  field events carry the call's id in (``geobox_request_id``);
* :func:`redact_event`: the redaction processor, for a host's own structlog chain;
* :func:`configure_demo_logging`: console or JSON output, for the demo CLI only;
* :data:`LOGGER_NAME`, :data:`AUDIT_LOGGER_NAME`: the logger names.
"""

from geobox_usage.logs._demo import configure_demo_logging
from geobox_usage.logs._emit import AUDIT_LOGGER_NAME, LOGGER_NAME
from geobox_usage.logs._processors import redact_event, redact_text
from geobox_usage.logs._request_id import (
    LOG_FIELD,
    current_request_id,
    host_request_id,
    request_id,
)

__all__ = [
    "AUDIT_LOGGER_NAME",
    "LOGGER_NAME",
    "LOG_FIELD",
    "configure_demo_logging",
    "current_request_id",
    "host_request_id",
    "redact_event",
    "redact_text",
    "request_id",
]
