"""Finding, registering and asking the plugins that make up a client's pipeline."""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points

import pluggy

from geobox_usage import hookspecs
from geobox_usage.events import EventListener
from geobox_usage.pipeline import Pipeline, PipelineContext, PipelineStage, Transport

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "assemble",
    "make_plugin_manager",
    "plugin_name",
]

ENTRY_POINT_GROUP = "geobox_usage"

#: The built-in plugins: name -> module. Each registers exactly as a third-party one.
BUILTIN_PLUGINS: dict[str, str] = {
    "logging": "geobox_usage.stages.logging",
    "cache": "geobox_usage.stages.cache",
    "retry": "geobox_usage.stages.retry",
    "circuit_breaker": "geobox_usage.stages.breaker",
    "rate_limit": "geobox_usage.stages.ratelimit",
    "auth": "geobox_usage.stages.auth",
    "transport": "geobox_usage.stages.transport",
}


@functools.cache
def _entry_point_plugins() -> tuple[tuple[str, object], ...]:
    """Plugins installed under the ``geobox_usage`` entry-point group, loaded once."""
    return tuple((ep.name, ep.load()) for ep in entry_points(group=ENTRY_POINT_GROUP))


def plugin_name(plugin: object) -> str | None:
    """The name a plugin asks to be registered under (its ``plugin_name`` attribute)."""
    name = getattr(plugin, "plugin_name", None)
    return name if isinstance(name, str) and name else None


def make_plugin_manager(
    plugins: Iterable[object] = (),
    disable_plugins: Iterable[str] = (),
    *,
    load_entrypoints: bool = True,
) -> pluggy.PluginManager:
    """Register entry-point plugins, then ``plugins``, then the built-ins not replaced.

    A plugin registered under a built-in's name replaces it; a name in
    ``disable_plugins`` is blocked, whoever registers it.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for blocked in disable_plugins:
        if not isinstance(blocked, str):
            raise TypeError(f"disable_plugins takes plugin names (str), got {blocked!r}")
        pm.set_blocked(blocked)
    candidates: list[tuple[str | None, object]] = []
    if load_entrypoints:
        candidates.extend(_entry_point_plugins())
    candidates.extend((plugin_name(p), p) for p in plugins)
    for name, plugin in candidates:
        if name is not None and pm.is_blocked(name):
            continue
        if name is not None and (existing := pm.get_plugin(name)) is not None:
            pm.unregister(existing)  # a later plugin of the same name replaces it
        pm.register(plugin, name=name)
    for builtin, module in BUILTIN_PLUGINS.items():
        if pm.is_blocked(builtin) or pm.has_plugin(builtin):
            continue
        pm.register(importlib.import_module(module), name=builtin)
    return pm


def assemble(
    pm: pluggy.PluginManager, context: PipelineContext
) -> tuple[PipelineContext, Pipeline]:
    """Ask the plugins, once, for identity, listeners, stages and transport."""
    hook = pm.hook
    identity = hook.geobox_usage_credential_identity(context=context)
    if identity is not None:
        context = dataclasses.replace(context, identity=identity)
    listeners: list[EventListener] = [
        listener for listener in hook.geobox_usage_listener(context=context) if listener
    ]
    for listener in listeners:
        context.events.subscribe(listener)
    # pluggy calls implementations last-registered first; reversing restores registration
    # order, so that stages sharing a slot run in the order their plugins were registered.
    answers = hook.geobox_usage_stage(context=context)[::-1]
    stages: list[PipelineStage] = [
        stage
        for answer in answers
        if answer
        for stage in ((answer,) if isinstance(answer, PipelineStage) else answer)
    ]
    transport: Transport | None = hook.geobox_usage_transport(context=context)
    if transport is None:
        raise ValueError(
            "no transport: the 'transport' plugin was disabled and no other plugin "
            "implements geobox_usage_transport"
        )
    return context, Pipeline(stages, transport)
