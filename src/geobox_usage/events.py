"""Pipeline events: what stages report about their work, for logs, metrics and tests.

Stages emit events through :class:`EventBus`; plugins subscribe by returning a listener
from the ``geobox_usage_listener`` hook. Listeners are collected once when the client
is built, so emitting is a plain loop over callables (nothing at all when there is none).
Events are frozen values; a listener must not block and should not raise (an exception
from a listener is logged and dropped, never propagated into the call).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventBus", "EventListener", "PipelineEvent"]

_log = logging.getLogger("geobox_usage")


@dataclass(frozen=True, slots=True)
class PipelineEvent:
    """Something a stage did or saw.

    Attributes:
        name: a constant noun naming the kind of event (``"geobox.attempt"``,
            ``"geobox.breaker"``, ``"geobox.ratelimit"``, ``"geobox.auth"``, ...).
        fields: the event's data; never secrets.
    """

    name: str
    fields: Mapping[str, Any] = field(default_factory=dict)


EventListener = Callable[[PipelineEvent], None]
"""A callable that receives events. It may also have a ``wants(name, level)`` method
saying whether it would use an event of that name at that log level (``logging.DEBUG``
for routine ones): a stage asks :meth:`EventBus.wants` before it builds a routine event,
so that no event is built per call when no listener would use it."""


def _wants_of(
    listeners: tuple[EventListener, ...],
) -> tuple[Callable[[str, int], bool] | None, ...]:
    """Each listener's ``wants`` method, looked up once rather than on every call."""
    return tuple(getattr(listener, "wants", None) for listener in listeners)


class EventBus:
    """Delivers events to the listeners that plugins registered."""

    __slots__ = ("_listeners", "_wants")

    def __init__(self, listeners: tuple[EventListener, ...] = ()) -> None:
        self._listeners = listeners
        self._wants = _wants_of(listeners)

    @property
    def listeners(self) -> tuple[EventListener, ...]:
        """The subscribed listeners, in registration order."""
        return self._listeners

    def subscribe(self, listener: EventListener) -> None:
        """Add a listener (for a client's lifetime)."""
        self._listeners = (*self._listeners, listener)
        self._wants = _wants_of(self._listeners)

    def wants(self, name: str, level: int) -> bool:
        """Whether some listener would use an event ``name`` at log ``level``.

        A listener without a ``wants`` method wants every event.
        """
        for wants in self._wants:  # noqa: SIM110 - a loop: any() would add a generator per call
            if wants is None or wants(name, level):
                return True
        return False

    def emit(self, name: str, **fields: Any) -> None:
        """Deliver an event named ``name`` with ``fields`` to every listener."""
        if not self._listeners:
            return
        event = PipelineEvent(name, fields)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must never break a call
                _log.exception("geobox_usage event listener %r failed", listener)
