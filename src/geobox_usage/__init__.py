"""geobox-usage: a resilient, observable, extensible async client for the Geobox usage API.

The four usage operations of the official SDK's ``AsyncUsage``, signature for
signature, on a pipeline of pluggy stages (logging → cache → retry → circuit breaker →
rate limit → auth → aiohttp transport). See the docs for each stage and for writing a
plugin.
"""

from geobox_usage._clock import Clock, SystemClock
from geobox_usage._credentials import CredentialKind, Credentials
from geobox_usage._messages import Request, Response
from geobox_usage._secret import Secret
from geobox_usage._spec import CachePolicy, RequestSpec
from geobox_usage.answers import UsageSummary, usage_points
from geobox_usage.caching import CacheBackend, CacheEntry, InMemoryCacheBackend
from geobox_usage.client import AsyncGeoboxClient
from geobox_usage.config import (
    CacheConfig,
    CircuitBreakerConfig,
    RateLimitConfig,
    ResponseLimits,
    RetryConfig,
    TimeoutConfig,
)
from geobox_usage.enums import UsageParam, UsageScale
from geobox_usage.errors import (
    ApiRequestError,
    AuthenticationError,
    AuthorizationError,
    CircuitOpenError,
    ClientClosedError,
    ClientRateLimitError,
    GeoboxError,
    GeoboxTimeoutError,
    HTTPStatusError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    ValidationError,
)
from geobox_usage.events import EventBus, PipelineEvent
from geobox_usage.hookspecs import hookimpl
from geobox_usage.logs import current_request_id, request_id
from geobox_usage.pipeline import (
    Handler,
    Pipeline,
    PipelineContext,
    PipelineStage,
    Slot,
    Stage,
    Transport,
)
from geobox_usage.resilience import BreakerStore, RateLimitStore, RetryBudgetStore
from geobox_usage.resources import AsyncApiKey, AsyncUser
from geobox_usage.usage import AsyncUsage

__version__ = "0.1.0"

__all__ = [
    "ApiRequestError",
    "AsyncApiKey",
    "AsyncGeoboxClient",
    "AsyncUsage",
    "AsyncUser",
    "AuthenticationError",
    "AuthorizationError",
    "BreakerStore",
    "CacheBackend",
    "CacheConfig",
    "CacheEntry",
    "CachePolicy",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "ClientClosedError",
    "ClientRateLimitError",
    "Clock",
    "CredentialKind",
    "Credentials",
    "EventBus",
    "GeoboxError",
    "GeoboxTimeoutError",
    "HTTPStatusError",
    "Handler",
    "InMemoryCacheBackend",
    "NotFoundError",
    "Pipeline",
    "PipelineContext",
    "PipelineEvent",
    "PipelineStage",
    "RateLimitConfig",
    "RateLimitError",
    "RateLimitStore",
    "Request",
    "RequestSpec",
    "Response",
    "ResponseDecodeError",
    "ResponseLimits",
    "ResponseTooLargeError",
    "RetryBudgetStore",
    "RetryConfig",
    "Secret",
    "ServerError",
    "Slot",
    "Stage",
    "SystemClock",
    "TimeoutConfig",
    "Transport",
    "TransportError",
    "UsageParam",
    "UsageScale",
    "UsageSummary",
    "ValidationError",
    "__version__",
    "current_request_id",
    "hookimpl",
    "request_id",
    "usage_points",
]
