"""The commands that ask the real API (or ``--simulate``): whoami, summary, api-usage,
process and update. Each prints for people by default, ``--json`` for scripts, and fails
with one line on stderr and an exit status that tells errors apart (:class:`ExitCode`)."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console

from geobox_usage.cli._exit import exit_code_for
from geobox_usage.cli._period import Period, points_in
from geobox_usage.cli._render import (
    points_csv,
    render_json,
    render_points,
    render_process,
    render_summary,
    render_user,
    series_pairs,
)
from geobox_usage.cli._session import ConnectionSettings, RetryReporter, open_client
from geobox_usage.client import DEFAULT_HOST, AsyncGeoboxClient
from geobox_usage.config import RetryConfig
from geobox_usage.enums import UsageParam, UsageScale
from geobox_usage.errors import GeoboxError
from geobox_usage.resources import AsyncApiKey, AsyncUser

__all__ = ["api_usage", "process", "summary", "update", "whoami"]

P = ParamSpec("P")
R = TypeVar("R")

_DATE = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"])


def _stdout() -> Console:
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 100)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)


def connection_options(command: Callable[P, R]) -> Callable[P, R]:
    """The options every API command takes: host, credentials, ``--simulate``, ``--json``."""
    options = [
        click.option(
            "--host",
            envvar="GEOBOX_HOST",
            default=DEFAULT_HOST,
            show_default=True,
            help="The API host (or GEOBOX_HOST); the version path v1/ is added.",
        ),
        click.option("--username", help="Account name (or GEOBOX_USERNAME), with --password."),
        click.option("--password", help="Account password (or GEOBOX_PASSWORD)."),
        click.option("--access-token", help="A bearer token (or GEOBOX_ACCESS_TOKEN)."),
        click.option("--apikey", help="An API key (or GEOBOX_APIKEY)."),
        click.option(
            "--simulate",
            is_flag=True,
            help="Ask an in-process simulated server (demo account) instead of the real API.",
        ),
        click.option(
            "--attempts",
            type=click.IntRange(min=1),
            default=RetryConfig().attempts,
            show_default=True,
            help="The most attempts per request (1: never retry).",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the raw answer as JSON."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _settings(options: dict[str, Any]) -> ConnectionSettings:
    return ConnectionSettings(
        host=options.pop("host"),
        username=options.pop("username"),
        password=options.pop("password"),
        access_token=options.pop("access_token"),
        apikey=options.pop("apikey"),
        simulate=options.pop("simulate"),
        attempts=options.pop("attempts"),
    )


def _run(
    work: Callable[[AsyncGeoboxClient], Awaitable[None]], settings: ConnectionSettings
) -> None:
    """Run ``work`` with a client; turn a failure into one line and an exit status."""
    errors = _stderr()

    async def main() -> None:
        async with open_client(settings, RetryReporter(errors)) as client:
            await work(client)

    try:
        asyncio.run(main())
    except (GeoboxError, ValueError) as exc:
        errors.print(f"geobox-usage: error: {exc}", markup=False, soft_wrap=True)
        raise SystemExit(exit_code_for(exc)) from None


def _user_options(command: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--user-id", type=int, help="Another user's id (needs permission); default: yours."
    )(command)


def _period_options(command: Callable[P, R]) -> Callable[P, R]:
    command = click.option("--to", "end", type=_DATE, help="End of the period.")(command)
    command = click.option("--from", "start", type=_DATE, help="Start of the period.")(command)
    return click.option("--days", type=click.IntRange(min=1), help="The last N days.")(command)


def _period(days: int | None, start: datetime | None, end: datetime | None) -> Period:
    try:
        return Period.from_options(days, start, end)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _command(function: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(function)
    def wrapper(**options: Any) -> None:
        function(_settings(options), **options)

    return wrapper


@click.command()
@connection_options
@_command
def whoami(settings: ConnectionSettings, as_json: bool) -> None:
    """Show the user the credentials belong to."""

    async def work(client: AsyncGeoboxClient) -> None:
        user = await client.get_user()
        out = _stdout()
        render_json(out, user.data) if as_json else render_user(out, user.data)

    _run(work, settings)


@click.command()
@connection_options
@_user_options
@_command
def summary(settings: ConnectionSettings, as_json: bool, user_id: int | None) -> None:
    """Show usage against limits: used, limit, share and a bar per quantity."""
    title = f"Usage summary ({_whose(user_id)})"
    _show_summary(settings, as_json, title, lambda client: client.get_usage_summary(user_id))


@click.command()
@connection_options
@_user_options
@_command
def update(settings: ConnectionSettings, as_json: bool, user_id: int | None) -> None:
    """Recompute usage (sent once, never repeated) and show the recomputed summary."""
    title = f"Recomputed usage ({_whose(user_id)})"
    _show_summary(settings, as_json, title, lambda client: client.update_usage(user_id))


def _show_summary(
    settings: ConnectionSettings,
    as_json: bool,
    title: str,
    fetch: Callable[[AsyncGeoboxClient], Awaitable[object]],
) -> None:
    """Fetch a summary-shaped answer and print it as JSON or as a table."""

    async def work(client: AsyncGeoboxClient) -> None:
        answer = await fetch(client)
        out = _stdout()
        if as_json:
            render_json(out, answer)
        else:
            render_summary(out, answer, title=title)

    _run(work, settings)


@click.command()
@connection_options
@_period_options
@_user_options
@_command
def process(
    settings: ConnectionSettings,
    as_json: bool,
    days: int | None,
    start: datetime | None,
    end: datetime | None,
    user_id: int | None,
) -> None:
    """Show the seconds of processing used in a period."""
    period = _period(days, start, end)

    async def work(client: AsyncGeoboxClient) -> None:
        seconds = await client.get_process_usage(user_id, period.start, period.end, period.days)
        out = _stdout()
        if as_json:
            render_json(out, seconds)
        else:
            render_process(
                out, seconds, title=f"Processing, {period.describe()} ({_whose(user_id)})"
            )

    _run(work, settings)


@click.command("api-usage")
@connection_options
@click.option(
    "--scale",
    type=click.Choice([s.value for s in UsageScale]),
    default=UsageScale.Day.value,
    show_default=True,
    help="The size of one point.",
)
@click.option(
    "--param",
    type=click.Choice([p.value for p in UsageParam]),
    default=UsageParam.Calls.value,
    show_default=True,
    help="What to count: calls, or traffic in bytes.",
)
@_period_options
@_user_options
@click.option("--apikey-id", type=int, help="An API key's id: its usage instead of a user's.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the series as CSV (time,value).")
@_command
def api_usage(
    settings: ConnectionSettings,
    as_json: bool,
    scale: str,
    param: str,
    days: int | None,
    start: datetime | None,
    end: datetime | None,
    user_id: int | None,
    apikey_id: int | None,
    as_csv: bool,
) -> None:
    """Show API calls or traffic over a period, as a table and a bar chart.

    The limit sent is computed from the period, so a long period is never cut at the
    server's default of 10 points.
    """
    if user_id is not None and apikey_id is not None:
        raise click.UsageError("give --user-id or --apikey-id, not both")
    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    period = _period(days, start, end)
    scale_member, param_member = UsageScale(scale), UsageParam(param)

    async def work(client: AsyncGeoboxClient) -> None:
        resource: AsyncUser | AsyncApiKey
        if apikey_id is not None:
            resource, whose = await client.get_apikey(apikey_id), f"API key {apikey_id}"
        else:
            resource = await client.get_user("me" if user_id is None else user_id)
            whose = _whose(user_id)
        points = await client.get_api_usage(
            resource,
            scale_member,
            param_member,
            period.start,
            period.end,
            period.days,
            limit=points_in(period, scale_member),
        )
        out = _stdout()
        pairs = series_pairs(points)
        if as_json or pairs is None:
            render_json(out, points)
        elif as_csv:
            click.echo(points_csv(pairs, param), nl=False)
        else:
            title = f"API {param} per {scale}, {period.describe()} ({whose})"
            render_points(out, pairs, param=param, title=title)

    _run(work, settings)


def _whose(user_id: int | None) -> str:
    return "you" if user_id is None else f"user {user_id}"
