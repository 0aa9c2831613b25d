"""How a command reaches the API: settings from flags and the environment, a client for the
real API or for an in-process simulator, and retry waits reported on stderr as they happen."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from rich.console import Console

from geobox_usage.client import DEFAULT_HOST, AsyncGeoboxClient
from geobox_usage.config import RetryConfig
from geobox_usage.events import EventListener, PipelineEvent
from geobox_usage.hookspecs import hookimpl
from geobox_usage.pipeline import PipelineContext

__all__ = ["ConnectionSettings", "RetryReporter", "open_client"]


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where to send requests and as whom, as the command line gave them.

    Credentials left ``None`` are read by the client from ``GEOBOX_ACCESS_TOKEN``,
    ``GEOBOX_APIKEY``, ``GEOBOX_USERNAME`` and ``GEOBOX_PASSWORD``, as the library does.
    """

    host: str = DEFAULT_HOST
    username: str | None = None
    password: str | None = None
    access_token: str | None = None
    apikey: str | None = None
    simulate: bool = False
    seed: int = 7
    attempts: int = RetryConfig().attempts

    def __repr__(self) -> str:
        given = [n for n in ("username", "password", "access_token", "apikey") if getattr(self, n)]
        return f"ConnectionSettings(host={self.host!r}, given={given}, simulate={self.simulate})"


class RetryReporter:
    """A plugin that tells a person, on stderr, each time the client waits to retry."""

    def __init__(self, console: Console) -> None:
        self._console = console

    @hookimpl
    def geobox_usage_listener(self, context: PipelineContext) -> EventListener:
        return self._on_event

    def _on_event(self, event: PipelineEvent) -> None:
        fields = event.fields
        if event.name != "geobox.attempt" or not fields.get("will_retry"):
            return
        failure = fields.get("status") or fields.get("error_type") or "a failure"
        self._console.print(
            f"{fields.get('operation')}: attempt {fields.get('attempt')} got {failure}; "
            f"retrying in {float(fields.get('wait_s') or 0):.2f} s ({fields.get('wait_reason')})",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )


@contextlib.asynccontextmanager
async def open_client(
    settings: ConnectionSettings, reporter: RetryReporter
) -> AsyncIterator[AsyncGeoboxClient]:
    """A client for ``settings``: the real API, or a simulator started for the command."""
    async with contextlib.AsyncExitStack() as stack:
        host, username, password = settings.host, settings.username, settings.password
        given = (username, password, settings.access_token, settings.apikey)
        if settings.simulate:
            from geobox_usage.testing import DEMO_PASSWORD, DEMO_USERNAME, SimulatedGeobox

            sim = await stack.enter_async_context(SimulatedGeobox(settings.seed))
            host = sim.base_url
            if not any(given):  # the simulator's demo account, not the environment's
                username, password = DEMO_USERNAME, DEMO_PASSWORD
        client = AsyncGeoboxClient(
            host,
            username=username,
            password=password,
            access_token=settings.access_token,
            apikey=settings.apikey,
            retry=RetryConfig(attempts=settings.attempts),
            plugins=[reporter],
        )
        yield await stack.enter_async_context(client)
