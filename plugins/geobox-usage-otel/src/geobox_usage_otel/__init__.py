"""OpenTelemetry traces and metrics for geobox-usage, as a plugin.

Installing this distribution is enough: the ``geobox_usage`` entry-point group
registers :data:`plugin` (named ``otel``) for every client, using the global tracer
provider, meter provider and propagator. Without an OpenTelemetry SDK configured it
costs no more than the API's no-op calls.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from geobox_usage_otel._names import INSTRUMENTATION_NAME
from geobox_usage_otel._plugin import OpenTelemetryPlugin

try:
    __version__ = version("geobox-usage-otel")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["INSTRUMENTATION_NAME", "OpenTelemetryPlugin", "__version__", "plugin"]

plugin = OpenTelemetryPlugin()
"""The instance the entry point registers: global providers and propagator."""
