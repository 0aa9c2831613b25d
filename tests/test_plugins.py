"""The pipeline is assembled from pluggy plugins, once per client, in slot order."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from geobox_usage import (
    AsyncGeoboxClient,
    CircuitOpenError,
    Handler,
    PipelineContext,
    PipelineEvent,
    PipelineStage,
    Request,
    Response,
    ServerError,
    Slot,
    hookimpl,
)
from geobox_usage._plugins import BUILTIN_PLUGINS, _entry_point_plugins
from geobox_usage.resilience import (
    InMemoryBreakerStore,
    InMemoryRateLimitStore,
    InMemoryRetryBudgetStore,
    RetryBudget,
)
from geobox_usage.testing import DEMO_ACCESS_TOKEN, Fault, FaultPlan, SimulatedGeobox

from .conftest import ClientFactory


class Tagger:
    """A third-party stage that stamps a header and records what it saw."""

    def __init__(self, name: str, slot: int) -> None:
        self.name = name
        self.slot = slot
        self.seen: list[Request] = []
        self.stage_hook_calls = 0

    async def __call__(self, request: Request, call_next: Handler) -> Response:
        self.seen.append(request)
        return await call_next(request.with_header(f"X-Tag-{self.name}", str(len(self.seen))))

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> PipelineStage:
        self.stage_hook_calls += 1
        return PipelineStage(name=self.name, slot=self.slot, stage=self)


def test_builtins_are_registered_by_name_like_any_plugin(no_geobox_env: None) -> None:
    client = AsyncGeoboxClient(access_token="t", load_entrypoints=False)
    pm = client.plugin_manager
    for name, module in BUILTIN_PLUGINS.items():
        assert pm.get_plugin(name) is sys.modules[module]
    assert client.pipeline.names[-2:] == ("auth", "transport")
    slots = [s.slot for s in client.pipeline.stages]
    assert slots == sorted(slots)


def test_the_slots_keep_the_documented_order() -> None:
    assert [s.name for s in sorted(Slot)] == [
        "LOGGING",
        "CACHE",
        "RETRY",
        "CIRCUIT_BREAKER",
        "RATE_LIMIT",
        "AUTH",
    ]


async def test_a_third_party_stage_runs_in_its_slot_and_hooks_run_once(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    outer = Tagger("outer", Slot.LOGGING - 1)
    inner = Tagger("inner", Slot.AUTH + 1)
    client = make_client(plugins=[inner, outer])
    names = client.pipeline.names
    assert names[0] == "outer" and names[-2:] == ("inner", "transport")
    for _ in range(3):
        await client.get_usage_summary()
    assert outer.stage_hook_calls == inner.stage_hook_calls == 1  # never per request
    assert len(outer.seen) == len(inner.seen) == 3
    # the inner stage sees the auth header the auth stage added; the outer does not
    assert outer.seen[0].header("Authorization") is None
    assert inner.seen[0].header("Authorization") is not None
    assert sim.requests[-1].header("X-Tag-inner") == "3"


class CallAndAttempt:
    """One plugin contributing two stages: one around the call, one per attempt."""

    @hookimpl
    def geobox_usage_stage(self, context: PipelineContext) -> list[PipelineStage]:
        return [
            PipelineStage(name="per-call", slot=Slot.LOGGING - 1, stage=Tagger("call", 0)),
            PipelineStage(name="per-attempt", slot=Slot.AUTH - 1, stage=Tagger("try", 0)),
        ]


async def test_a_plugin_may_contribute_several_stages(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(plugins=[CallAndAttempt()])
    names = client.pipeline.names
    assert names[0] == "per-call"
    assert names[names.index("auth") - 1] == "per-attempt"
    await client.get_usage_summary()
    assert sim.requests[-1].header("X-Tag-call") == "1"
    assert sim.requests[-1].header("X-Tag-try") == "1"


async def test_a_builtin_can_be_disabled_by_name(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(disable_plugins=["auth"])
    assert "auth" not in client.pipeline.names
    assert client.plugin_manager.get_plugin("auth") is None
    from geobox_usage import AuthenticationError

    with pytest.raises(AuthenticationError):
        await client.get_usage_summary()
    assert sim.requests[0].header("Authorization") is None


def test_disabling_the_transport_without_a_replacement_is_explained(no_geobox_env: None) -> None:
    with pytest.raises(ValueError, match="no transport"):
        AsyncGeoboxClient(access_token="t", disable_plugins=["transport"])


def test_disable_plugins_takes_names(no_geobox_env: None) -> None:
    with pytest.raises(ValueError, match="disable_plugins takes plugin names"):
        AsyncGeoboxClient(access_token="t", disable_plugins=[Tagger])  # type: ignore[list-item]


async def test_a_plugin_with_a_builtin_name_replaces_it(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    class RecordingTransport:
        plugin_name = "transport"

        def __init__(self) -> None:
            self.sent: list[Request] = []

        async def send(self, request: Request) -> Response:
            self.sent.append(request)
            raise ConnectionAbortedError("recorded, not sent")

        async def aclose(self) -> None:
            pass

        @hookimpl
        def geobox_usage_transport(self, context: PipelineContext) -> RecordingTransport:
            return self

    recorder = RecordingTransport()
    client = make_client(plugins=[recorder])
    assert client.pipeline.transport is recorder
    with pytest.raises(ConnectionAbortedError):
        await client.get_usage_summary()
    assert [r.operation for r in recorder.sent] == ["get_usage_summary"]
    assert sim.requests == ()


async def test_listeners_receive_events(make_client: ClientFactory) -> None:
    received: list[PipelineEvent] = []

    class Listener:
        @hookimpl
        def geobox_usage_listener(self, context: PipelineContext) -> object:
            return received.append

    client = make_client(plugins=[Listener()])
    client.context.events.emit("test.event", answer=42)
    assert received == [PipelineEvent("test.event", {"answer": 42})]


def test_a_failing_listener_never_breaks_the_emitter(
    no_geobox_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: PipelineEvent) -> None:
        raise RuntimeError("listener bug")

    client = AsyncGeoboxClient(access_token="t", load_entrypoints=False)
    client.context.events.subscribe(broken)
    client.context.events.emit("test.event")
    assert "listener" in caplog.text and "failed" in caplog.text


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A distribution installed on sys.path whose ``geobox_usage`` entry point is a plugin."""
    (tmp_path / "geobox_tagger_plugin.py").write_text(
        textwrap.dedent(
            """
            from geobox_usage import PipelineStage, Slot, hookimpl

            async def _tag(request, call_next):
                return await call_next(request.with_header("X-From-Entry-Point", "yes"))

            @hookimpl
            def geobox_usage_stage(context):
                return PipelineStage(name="entry-point-tagger", slot=Slot.AUTH + 1, stage=_tag)
            """
        )
    )
    dist = tmp_path / "geobox_tagger_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: geobox-tagger-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text("[geobox_usage]\ntagger = geobox_tagger_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _entry_point_plugins.cache_clear()
    yield "tagger"
    _entry_point_plugins.cache_clear()
    sys.modules.pop("geobox_tagger_plugin", None)


async def test_entry_point_plugins_are_loaded(
    installed_plugin: str, sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    client = make_client(load_entrypoints=True)
    assert client.plugin_manager.get_plugin(installed_plugin) is not None
    assert "entry-point-tagger" in client.pipeline.names
    await client.get_usage_summary()
    assert sim.requests[0].header("X-From-Entry-Point") == "yes"
    blocked = make_client(load_entrypoints=True, disable_plugins=[installed_plugin])
    assert "entry-point-tagger" not in blocked.pipeline.names
    skipped = make_client(load_entrypoints=False)
    assert "entry-point-tagger" not in skipped.pipeline.names


class SharedResilienceState:
    """A plugin handing one breaker store and one retry budget to every client."""

    def __init__(self) -> None:
        self.breakers = InMemoryBreakerStore(failure_threshold=2, cooldown=60.0)
        self.budget = InMemoryRetryBudgetStore(RetryBudget(ratio=0.0, min_per_s=0.0))

    @hookimpl
    def geobox_usage_breaker_store(self, context: PipelineContext) -> InMemoryBreakerStore:
        return self.breakers

    @hookimpl
    def geobox_usage_retry_budget_store(self, context: PipelineContext) -> InMemoryRetryBudgetStore:
        return self.budget


async def test_store_hooks_let_clients_share_breaker_and_budget_state(
    sim: SimulatedGeobox, fault_plan: FaultPlan, make_client: ClientFactory
) -> None:
    shared = SharedResilienceState()
    first = make_client(plugins=[shared], disable_plugins=["cache"])
    second = make_client(plugins=[shared], disable_plugins=["cache"])
    fault_plan.sequence("usage/summary", Fault.status(500), Fault.status(500))
    for _ in range(2):
        with pytest.raises(ServerError) as caught:
            await first.get_usage_summary()
        assert caught.value.attempts == 1  # the shared budget of zero allows no retry
    # the first client's failures opened the circuit for the second client too
    with pytest.raises(CircuitOpenError):
        await second.get_usage_summary()
    assert sim.count(path="usage/summary") == 2


class ClosingStores(SharedResilienceState):
    """A plugin whose breaker store and retry budget hold something to release (its
    hooks are :class:`SharedResilienceState`'s)."""

    def __init__(self) -> None:
        self.closed: list[str] = []
        outer = self

        class Breakers(InMemoryBreakerStore):
            async def aclose(self) -> None:
                outer.closed.append("breaker")

        class Budget(InMemoryRetryBudgetStore):
            async def aclose(self) -> None:
                outer.closed.append("budget")

        self.breakers = Breakers(failure_threshold=2, cooldown=60.0)
        self.budget = Budget(RetryBudget(ratio=0.1, min_per_s=1.0))


async def test_breaker_and_budget_stores_are_closed_with_the_client(
    sim: SimulatedGeobox, no_geobox_env: None
) -> None:
    stores = ClosingStores()
    async with AsyncGeoboxClient(
        host=sim.base_url,
        access_token=DEMO_ACCESS_TOKEN,
        plugins=[stores],
        load_entrypoints=False,
        rate_limit=None,
        cache=None,
    ) as client:
        await client.get_usage_summary()
        assert stores.closed == []
    assert sorted(stores.closed) == ["breaker", "budget"]


def test_a_store_hook_answer_must_follow_the_protocol(no_geobox_env: None) -> None:
    class Wrong:
        @hookimpl
        def geobox_usage_breaker_store(self, context: PipelineContext) -> object:
            return object()

    with pytest.raises(ValueError, match="must answer a BreakerStore"):
        AsyncGeoboxClient(access_token="t", plugins=[Wrong()], load_entrypoints=False)


async def test_a_subclass_of_the_in_memory_stores_is_asked_through_its_own_methods(
    sim: SimulatedGeobox, make_client: ClientFactory
) -> None:
    # The stages ask the built-in in-memory stores without a coroutine; a subclass that
    # overrides the protocol's methods must still be asked through them.
    asked: list[str] = []

    class Breakers(InMemoryBreakerStore):
        async def admit(self, host: str, now: float) -> Any:
            asked.append("admit")
            return await super().admit(host, now)

        async def record(self, host: str, outcome: Any, now: float, *, probe: bool) -> Any:
            asked.append("record")
            return await super().record(host, outcome, now, probe=probe)

    class Limiter(InMemoryRateLimitStore):
        async def acquire(self) -> float:
            asked.append("acquire")
            return await super().acquire()

    class Stores:
        @hookimpl
        def geobox_usage_breaker_store(self, context: PipelineContext) -> Any:
            return Breakers(failure_threshold=2, cooldown=60.0)

        @hookimpl
        def geobox_usage_rate_limit_store(self, context: PipelineContext) -> Any:
            assert context.rate_limit is not None
            return Limiter(context.rate_limit, context.clock)

    client = make_client(plugins=[Stores()])
    await client.get_usage_summary()
    assert asked == ["admit", "acquire", "record"]
