"""``geobox-usage demo``: every operation through the full pipeline, against the simulator.

It starts the simulated Geobox server in-process on an ephemeral loopback port with a
light fault plan (a rate-limit refusal, a gateway error, an overloaded server, an
expired token), runs the four usage operations with a username and password, and
prints a report: the usage series as tables with bar charts, the summary against
limits, the process seconds, the update's result, and what the pipeline did to get
there (attempts, waits and why), recorded by a small event-listener plugin.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from geobox_usage.cli._render import (
    render_json,
    render_points,
    render_process,
    render_summary,
    series_pairs,
)
from geobox_usage.client import AsyncGeoboxClient
from geobox_usage.config import RetryConfig, TimeoutConfig
from geobox_usage.enums import UsageParam, UsageScale
from geobox_usage.events import EventListener, PipelineEvent
from geobox_usage.hookspecs import hookimpl
from geobox_usage.pipeline import PipelineContext
from geobox_usage.testing import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    Fault,
    FaultPlan,
    SimulatedGeobox,
)

__all__ = ["PipelineRecorder", "demo_fault_plan", "run_demo"]


def demo_fault_plan(seed: int = 0) -> FaultPlan:
    """The demo's light fault plan: each fault is one a resilient client rides out."""
    return (
        FaultPlan(seed)
        .sequence(
            "GET usage/api", Fault.status(429, retry_after=0.2), None, Fault.status(502, html=True)
        )
        .sequence("GET usage/process", Fault.expire_token())
        .sequence("GET usage/summary", Fault.status(503, retry_after=0.1, html=True))
        .sequence("POST usage/update", Fault.status(429, retry_after=0.1))
    )


@dataclass
class PipelineRecorder:
    """A plugin that records the pipeline's events, to report what the pipeline did."""

    events: list[PipelineEvent] = field(default_factory=list)

    @hookimpl
    def geobox_usage_listener(self, context: PipelineContext) -> EventListener:
        return self.events.append

    def named(self, name: str) -> list[PipelineEvent]:
        """The recorded events called ``name``, in order."""
        return [e for e in self.events if e.name == name]


async def run_demo(*, seed: int = 7, out: TextIO | None = None) -> int:
    """Run the demo and print its report to ``out`` (stdout by default); returns 0."""
    console = Console(file=out or sys.stdout, width=100, soft_wrap=False)
    recorder = PipelineRecorder()
    async with SimulatedGeobox(seed, faults=demo_fault_plan(seed)) as sim:
        async with AsyncGeoboxClient(
            host=sim.base_url,
            username=DEMO_USERNAME,
            password=DEMO_PASSWORD,
            plugins=[recorder],
            retry=RetryConfig(backoff_base=0.05, backoff_max=0.5, deadline=15.0),
            timeout=TimeoutConfig(connect=2.0, read=5.0),
            load_entrypoints=False,
        ) as client:
            user = await client.get_user()
            calls = await client.get_api_usage(
                user, UsageScale.Day, UsageParam.Calls, days_before_now=14, limit=15
            )
            traffic = await client.get_api_usage(
                user, UsageScale.Day, UsageParam.Traffic, days_before_now=7, limit=8
            )
            process = await client.get_process_usage(days_before_now=30)
            summary = await client.get_usage_summary()
            updated = await client.update_usage()
            pipeline = " → ".join(client.pipeline.names)
        console.print(
            f"Geobox usage demo — simulated server at {sim.api_url} (seed {seed})",
            f"pipeline: {pipeline}",
            "",
            f"User {user.username!r} (id {user.user_id})",
            sep="\n",
            highlight=False,
        )
        _series(console, calls, "calls", "API calls per day, last 14 days")
        _series(console, traffic, "traffic", "Traffic per day, last 7 days")
        render_process(console, process, title="Processing in the last 30 days")
        render_summary(console, summary, title=f"Usage summary (user {user.user_id})")
        render_summary(console, updated, title="After update_usage (recomputed)")
        _activity(console, recorder, requests_seen=len(sim.requests))
    return 0


def _series(console: Console, points: object, param: str, title: str) -> None:
    pairs = series_pairs(points)
    if pairs is None:
        console.print(title)
        render_json(console, points)
    else:
        render_points(console, pairs, param=param, title=title)


def _activity(console: Console, recorder: PipelineRecorder, *, requests_seen: int) -> None:
    """What the pipeline did: one row per attempt, then totals."""
    attempts = recorder.named("geobox.attempt")
    table = Table(title="What the pipeline did", title_justify="left")
    for name, justify in (("operation", "left"), ("attempt", "right"), ("status", "right"),
                          ("ms", "right"), ("then", "left")):  # fmt: skip
        table.add_column(name, justify="right" if justify == "right" else "left")
    for event in attempts:
        table.add_row(*_attempt_row(event.fields))
    console.print(table)
    waited = sum(float(e.fields.get("wait_s") or 0) for e in attempts if e.fields.get("will_retry"))
    retries = sum(1 for e in attempts if e.fields.get("will_retry"))
    console.print(
        f"{len(attempts)} attempts, {retries} retried, {waited:.2f} s waited; "
        f"{len(recorder.named('geobox.auth'))} token fetches; "
        f"the server saw {requests_seen} requests",
        highlight=False,
    )


def _attempt_row(fields: Any) -> Sequence[str]:
    status = fields.get("status")
    outcome = str(status) if status is not None else str(fields.get("error_type") or "-")
    if fields.get("will_retry"):
        then = f"retry in {float(fields.get('wait_s') or 0):.2f} s ({fields.get('wait_reason')})"
    elif fields.get("outcome") == "ok":
        then = "done"
    else:
        then = f"gave up: {fields.get('give_up_reason')}"
    return [
        str(fields.get("operation")),
        str(fields.get("attempt")),
        outcome,
        f"{float(fields.get('duration_ms') or 0):.1f}",
        then,
    ]
