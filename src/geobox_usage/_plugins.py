"""Finding, registering and asking the plugins that make up a client's pipeline."""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

import pluggy
from pluggy import HookImpl

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

    A plugin registered under a built-in's name replaces it, and must then provide what
    the built-in provided (a stage, or the transport); a name in ``disable_plugins`` is
    blocked, whoever registers it, and must be the name of a plugin that exists.

    Raises:
        ValueError: ``disable_plugins`` is a string rather than a list of names, holds
            something that is not a string or a name no plugin has, or a plugin named
            like a built-in does not provide what it replaces.
    """
    plugins = list(plugins)
    blocked_names = _checked_disable_plugins(disable_plugins, plugins)
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for blocked in blocked_names:
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
        if pm.is_blocked(builtin):
            continue
        if pm.has_plugin(builtin):
            _check_replacement(pm, builtin)
            continue
        pm.register(importlib.import_module(module), name=builtin)
    return pm


def _checked_disable_plugins(disable_plugins: object, plugins: list[object]) -> list[str]:
    """``disable_plugins`` as a list of names, each the name of a plugin that exists."""
    if isinstance(disable_plugins, str | bytes) or not isinstance(disable_plugins, Iterable):
        raise ValueError(
            "disable_plugins must be a list of plugin names such as ['cache'], "
            f"got {disable_plugins!r}"
        )
    names = list(disable_plugins)
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"disable_plugins takes plugin names (str), got {name!r}")
    known = set(BUILTIN_PLUGINS) | {n for p in plugins if (n := plugin_name(p)) is not None}
    unknown = [name for name in names if name not in known]
    if unknown:
        known |= _installed_entry_point_names()
        unknown = [name for name in unknown if name not in known]
    if unknown:
        raise ValueError(
            f"disable_plugins names no plugin called {unknown[0]!r}; the known plugins "
            f"are {', '.join(repr(n) for n in sorted(known))}"
        )
    return names


def _installed_entry_point_names() -> set[str]:
    return {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}


#: What each built-in provides, which a plugin replacing it must provide too.
_PROVIDES = dict.fromkeys(BUILTIN_PLUGINS, "geobox_usage_stage") | {
    "transport": "geobox_usage_transport"
}


def _check_replacement(pm: pluggy.PluginManager, builtin: str) -> None:
    hook_name = _PROVIDES[builtin]
    implementers = {impl.plugin_name for impl in getattr(pm.hook, hook_name).get_hookimpls()}
    if builtin not in implementers:
        raise ValueError(
            f"plugin {builtin!r} replaces the built-in {builtin!r} but implements no "
            f"{hook_name}, so the client would have no {builtin} stage; give the plugin "
            f"another plugin_name to add to the built-in (a cache backend, say), or add "
            f"disable_plugins=[{builtin!r}] to do without it"
        )


def assemble(
    pm: pluggy.PluginManager, context: PipelineContext
) -> tuple[PipelineContext, Pipeline]:
    """Ask the plugins, once, for identity, listeners, stages and transport.

    Raises:
        ValueError: a plugin's hook raised (the error names the plugin and the hook,
            and chains what it raised), or no plugin provides a transport.
    """
    identity = _ask(pm, "geobox_usage_credential_identity", context)
    if identity is not None:
        context = dataclasses.replace(context, identity=identity)
    listeners: list[EventListener] = [
        listener for listener in _ask(pm, "geobox_usage_listener", context) if listener
    ]
    for listener in listeners:
        context.events.subscribe(listener)
    # pluggy calls implementations last-registered first; reversing restores registration
    # order, so that stages sharing a slot run in the order their plugins were registered.
    # A plugin may contribute one stage or several (pluggy takes one implementation of
    # a hook per plugin).
    answers = _ask(pm, "geobox_usage_stage", context)[::-1]
    stages: list[PipelineStage] = [
        stage
        for answer in answers
        if answer
        for stage in ((answer,) if isinstance(answer, PipelineStage) else answer)
    ]
    transport: Transport | None = _ask(pm, "geobox_usage_transport", context)
    if transport is None:
        raise ValueError(
            "no transport: the 'transport' plugin was disabled and no other plugin "
            "implements geobox_usage_transport"
        )
    return context, Pipeline(stages, transport)


def _ask(pm: pluggy.PluginManager, hook_name: str, context: PipelineContext) -> Any:
    """Call one hook; if an implementation raises, say which plugin it belongs to."""
    caller = getattr(pm.hook, hook_name)
    try:
        return caller(context=context)
    except Exception as exc:
        culprit = _raised_by(caller.get_hookimpls(), exc)
        raise ValueError(
            f"plugin {culprit!r} failed while the client was built, in {hook_name}(): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _raised_by(impls: Iterable[HookImpl], exc: BaseException) -> str:
    """The name of the plugin whose implementation is on ``exc``'s traceback."""
    codes = {}
    for impl in impls:
        function = getattr(impl.function, "__func__", impl.function)
        code = getattr(function, "__code__", None)
        if code is not None:
            codes[code] = impl.plugin_name
    tb = exc.__traceback__
    while tb is not None:
        name = codes.get(tb.tb_frame.f_code)
        if name is not None:
            return name
        tb = tb.tb_next
    return "unknown"
