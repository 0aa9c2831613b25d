"""How the library's events reach the host's logs, without configuring logging globally.

Two routes, chosen per event:

* the host configured structlog (``structlog.is_configured()``): events go through
  ``structlog.get_logger("geobox_usage")``, i.e. the host's own processors, wrapper
  class (and its level filtering) and logger factory; the fields are redacted before
  they enter the host's chain;
* otherwise: events go to the standard-library logger ``geobox_usage`` through a
  structlog ``BoundLogger`` with the library's own chain (``merge_contextvars``,
  :func:`redact_event`, :func:`render_for_stdlib`), so stdlib handlers receive
  structured records and values bound with ``structlog.contextvars`` appear. Nothing
  is formatted when the logger is not enabled for the level.

Audit events (``geobox.audit``) take the same routes but through the logger
``geobox_usage.audit`` and never through a level filter of the host's wrapper class:
see :func:`emit_audit`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import structlog
from structlog.contextvars import merge_contextvars

from geobox_usage.logs._processors import redact_event, render_for_stdlib

__all__ = ["AUDIT_LOGGER_NAME", "LOGGER_NAME", "emit", "emit_audit", "enabled"]

LOGGER_NAME = "geobox_usage"
"""The logger every event but the audit goes to (stdlib and structlog name alike)."""

AUDIT_LOGGER_NAME = "geobox_usage.audit"
"""The logger audit events go to. Its stdlib level is set to INFO when the library is
imported (unless the host set one already), so silencing ``geobox_usage`` does not
silence the audit; to silence the audit, set this logger's level explicitly."""

_METHOD = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}

_stdlib = logging.getLogger(LOGGER_NAME)
# Python's advice for libraries: a NullHandler only, so that an application that has not
# configured logging gets no stray output on stderr (logging.lastResort); one that has
# configured it receives every record through its own handlers as usual.
_stdlib.addHandler(logging.NullHandler())
_stdlib_audit = logging.getLogger(AUDIT_LOGGER_NAME)
if _stdlib_audit.level == logging.NOTSET:
    _stdlib_audit.setLevel(logging.INFO)

_CHAIN = [merge_contextvars, redact_event, render_for_stdlib]
_own = structlog.stdlib.BoundLogger(_stdlib, _CHAIN, {})
_own_audit = structlog.stdlib.BoundLogger(_stdlib_audit, _CHAIN, {})

# Lazy proxies: they read the host's configuration at each use.
_host = structlog.get_logger(LOGGER_NAME)
# The host's processors and logger factory, but the generic wrapper class: a host's
# filtering bound logger (make_filtering_bound_logger(ERROR)) must not drop the audit.
_host_audit = structlog.wrap_logger(
    None, wrapper_class=structlog.BoundLogger, logger_factory_args=(AUDIT_LOGGER_NAME,)
)


_host_check: tuple[object, Callable[[int], bool] | None, int | None] = (None, None, None)

# structlog's filtering bound loggers, one class per level (``make_filtering_bound_logger``
# hands out the same class for the same level): for those, the level check is a
# comparison with a number that never changes, made here without a call.
_FILTERING_LEVELS: dict[object, int] = {
    structlog.make_filtering_bound_logger(level): level
    for level in (
        logging.NOTSET,
        logging.DEBUG,
        logging.INFO,
        logging.WARNING,
        logging.ERROR,
        logging.CRITICAL,
    )
}

# structlog's configuration object: ``get_config()`` copies it into a new dict on every
# call, and the level check runs several times per call. If a structlog release moves
# it, the public function is used instead.
_STRUCTLOG_CONFIG: Any = getattr(getattr(structlog, "_config", None), "_CONFIG", None)
if not hasattr(_STRUCTLOG_CONFIG, "default_wrapper_class"):  # pragma: no cover
    _STRUCTLOG_CONFIG = None


def _host_level_check(
    wrapper: object,
) -> tuple[object, Callable[[int], bool] | None, int | None]:
    """The host's wrapper class, its own level check when it has one, and the fixed
    level of a structlog filtering logger (``None`` otherwise); kept as ``_host_check``.

    A filtering bound logger (``make_filtering_bound_logger``) or structlog's stdlib
    ``BoundLogger`` answers ``is_enabled_for(level)``; it is looked up once per
    configuration (``structlog.configure`` installs a new wrapper class) and asked on
    each event, so a level changed later is seen.
    """
    global _host_check
    check: Callable[[int], bool] | None = None
    if hasattr(wrapper, "is_enabled_for"):
        try:
            check = structlog.get_logger(LOGGER_NAME).bind().is_enabled_for
        except Exception:  # an unusual factory: let the host's chain decide
            check = None
    _host_check = (wrapper, check, _FILTERING_LEVELS.get(wrapper) if check is not None else None)
    return _host_check


def enabled(level: int) -> bool:
    """Whether an event at ``level`` may be logged (cheap; lets callers skip building it).

    With structlog configured by the host, its wrapper class's level check decides when
    it has one (a filtering bound logger at WARNING drops INFO events before anything is
    built); otherwise the host's chain decides and this answers ``True``.
    """
    config = _STRUCTLOG_CONFIG
    if config is not None:
        configured, wrapper = config.is_configured, config.default_wrapper_class
    else:  # pragma: no cover - a structlog that moved its configuration object
        configured, wrapper = structlog.is_configured(), structlog.get_config()["wrapper_class"]
    if not configured:
        return _stdlib.isEnabledFor(level)
    seen, check, threshold = _host_check
    if seen is not wrapper:
        _, check, threshold = _host_level_check(wrapper)
    if threshold is not None:
        return level >= threshold
    return True if check is None else check(level)


def emit(level: int, event: str, fields: dict[str, Any], *, redacted: bool = False) -> None:
    """Log ``event`` with ``fields`` at ``level`` through the route described above.

    ``redacted=True`` says the caller built every field from redacted parts, so the
    fields enter the host's chain as they are (the host's route runs
    :func:`redact_event` on them otherwise; the library's own chain always does).

    Never raises: a failure of a host's processor or handler is reported on the stdlib
    logger and the call that emitted goes on.
    """
    try:
        config = _STRUCTLOG_CONFIG
        if config.is_configured if config is not None else structlog.is_configured():
            # ``_host.bind()`` is what the lazy proxy's ``__getattr__`` would call (a
            # cached logger when the host caches on first use), one call fewer per event.
            getattr(_host.bind(), _METHOD.get(level, "info"))(
                event, **(fields if redacted else redact_event(None, "", dict(fields)))
            )
        elif _stdlib.isEnabledFor(level):
            getattr(_own, _METHOD.get(level, "info"))(event, **fields)
    except Exception:
        _stdlib.exception("geobox_usage could not log event %s", event)


def emit_audit(fields: dict[str, Any]) -> None:
    """Log ``geobox.audit`` at INFO on ``geobox_usage.audit``, past the host's level filters.

    With structlog configured by the host, the host's processors and logger factory are
    used but not its wrapper class's level filtering; with stdlib only, the
    ``geobox_usage.audit`` logger's own level (INFO unless the host changed it) decides.
    Never raises.
    """
    try:
        if structlog.is_configured():
            _host_audit.info("geobox.audit", **redact_event(None, "", dict(fields)))
        elif _stdlib_audit.isEnabledFor(logging.INFO):
            _own_audit.info("geobox.audit", **fields)
    except Exception:
        _stdlib.exception("geobox_usage could not log the audit event")
