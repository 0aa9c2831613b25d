"""The hooks a geobox-usage plugin may implement: the one page a plugin author reads.

A plugin is any object or module with functions marked ``@hookimpl`` whose names are
below. Built-in stages are plugins too, registered exactly as third-party ones are,
under the names ``logging``, ``cache``, ``retry``, ``circuit_breaker``, ``rate_limit``,
``auth`` and ``transport``. Plugins come from ``AsyncGeoboxClient(plugins=...)`` and
from the ``geobox_usage`` entry-point group. A plugin whose ``plugin_name`` attribute
equals a built-in name replaces that built-in; ``disable_plugins=("cache",)`` removes
one.

Every hook is called once, when the client is built, never per request: a stage is a
plain async callable that runs without any plugin dispatch. Stage factories may ask
other hooks through ``context.hook`` (the built-in cache asks
``geobox_usage_cache_backend``), again only at build time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from geobox_usage.caching.backends import CacheBackend
    from geobox_usage.events import EventListener
    from geobox_usage.pipeline import PipelineContext, PipelineStage, Transport
    from geobox_usage.resilience import BreakerStore, RateLimitStore, RetryBudgetStore

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

PROJECT_NAME = "geobox_usage"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a hook specification (used only in this module)."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's implementation of a hook: ``@hookimpl def geobox_usage_stage(...)``."""


@hookspec
def geobox_usage_stage(
    context: PipelineContext,
) -> PipelineStage | Sequence[PipelineStage] | None:
    """Contribute a stage to the client's pipeline.

    Args:
        context: the client's settings, clock, event bus and session provider.

    Returns:
        The stage and its slot, several stages (each at its own slot: a plugin that
        needs to see both the call and each attempt), or ``None`` to contribute nothing
        to this client.
    """


@hookspec(firstresult=True)
def geobox_usage_transport(context: PipelineContext) -> Transport | None:
    """Provide the transport at the end of the pipeline (the first non-``None`` wins).

    The built-in ``transport`` plugin answers with the aiohttp transport; a test or an
    application may answer with its own (a recording or in-process transport).
    """


@hookspec(firstresult=True)
def geobox_usage_credential_identity(context: PipelineContext) -> str | None:
    """Name the credential in use with a stable, non-secret string.

    Caches, limiters and breakers key their state on it, so two credentials never
    share an entry. The built-in ``auth`` plugin answers with a fingerprint of the
    configured credential; a custom auth plugin should answer for its own.
    """


@hookspec
def geobox_usage_listener(context: PipelineContext) -> EventListener | None:
    """Subscribe to the pipeline's events (attempts, waits, breaker state, ...).

    Returns:
        A callable taking a :class:`~geobox_usage.events.PipelineEvent`, or ``None``.
        It runs inline on the request path: keep it quick and never let it block.
    """


@hookspec(firstresult=True)
def geobox_usage_cache_backend(context: PipelineContext) -> CacheBackend | None:
    """Provide the store the cache stage keeps answers in (the first non-``None`` wins).

    Asked once, when the client is built, and only used when the client has
    ``cache=CacheConfig(...)``. The answer must have async ``get(key)``,
    ``set(key, entry, ttl)`` and ``delete(key)`` methods (see
    :class:`~geobox_usage.caching.CacheBackend`); without one the cache keeps an
    in-memory LRU store of ``CacheConfig.max_entries`` entries. Keys never hold a secret.
    """


@hookspec(firstresult=True)
def geobox_usage_breaker_store(context: PipelineContext) -> BreakerStore | None:
    """Provide the store that keeps circuit breaker state (the first non-``None`` wins).

    Asked once, when the client is built, and only when ``circuit_breaker=`` is set.
    Without an answer each client keeps its breaker state in memory; a shared store
    (Redis, say) lets every process calling the same host open and close together.
    A store's ``async aclose()``, if it has one, is awaited when the client closes.
    """


@hookspec(firstresult=True)
def geobox_usage_retry_budget_store(context: PipelineContext) -> RetryBudgetStore | None:
    """Provide the store that counts requests and retries for the retry budget.

    Asked once, when the client is built. Without an answer each client keeps its own
    budget in memory; a shared store bounds the retries of a whole fleet together.
    A store's ``async aclose()``, if it has one, is awaited when the client closes.
    """


@hookspec(firstresult=True)
def geobox_usage_rate_limit_store(context: PipelineContext) -> RateLimitStore | None:
    """Provide the store that keeps the rate limiter's budget, adaptive rate and pause.

    Asked once, when the client is built, and only when ``rate_limit=`` is set. Without
    an answer each client keeps its own state in memory; a shared store (Redis, say)
    makes every process using the credential share one budget of ``rate`` per
    ``period``. The concurrency cap stays local to each client.
    """
