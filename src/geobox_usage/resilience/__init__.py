"""The pure core of the resilience stages: schedules, decisions and state machines.

Everything here is synchronous and takes time as an argument (or from an injected
:class:`~geobox_usage.Clock`), so each rule is tested exhaustively without sleeping.
The async stages in :mod:`geobox_usage.stages` (``retry``, ``breaker``, ``ratelimit``)
are thin shells around these modules.

The state that several processes might one day share sits behind small protocols,
:class:`BreakerStore`, :class:`RetryBudgetStore` and :class:`RateLimitStore`; the
in-memory implementations are the defaults. A plugin supplies another one through the
``geobox_usage_breaker_store``, ``geobox_usage_retry_budget_store`` or
``geobox_usage_rate_limit_store`` hook, or replaces the stage by name.
"""

from geobox_usage.resilience._aimd import AimdState, RateMeter, pause_from_headers
from geobox_usage.resilience._backoff import backoff_ceiling, full_jitter
from geobox_usage.resilience._breaker_state import (
    Admission,
    BreakerState,
    BreakerStore,
    CircuitState,
    InMemoryBreakerStore,
    Outcome,
    Transition,
)
from geobox_usage.resilience._budget import (
    InMemoryRetryBudgetStore,
    RetryBudget,
    RetryBudgetStore,
)
from geobox_usage.resilience._decision import GiveUp, Retry, decide, refusal
from geobox_usage.resilience._ratestore import InMemoryRateLimitStore, RateLimitStore

__all__ = [
    "Admission",
    "AimdState",
    "BreakerState",
    "BreakerStore",
    "CircuitState",
    "GiveUp",
    "InMemoryBreakerStore",
    "InMemoryRateLimitStore",
    "InMemoryRetryBudgetStore",
    "Outcome",
    "RateLimitStore",
    "RateMeter",
    "Retry",
    "RetryBudget",
    "RetryBudgetStore",
    "Transition",
    "backoff_ceiling",
    "decide",
    "full_jitter",
    "pause_from_headers",
    "refusal",
]
