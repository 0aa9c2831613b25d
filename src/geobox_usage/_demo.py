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

from geobox_usage._report import bar, format_quantity, series_table, table
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
    write = (out or sys.stdout).write
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
                user, UsageScale.Day, UsageParam.Calls, days_before_now=14, limit=14
            )
            traffic = await client.get_api_usage(
                user, UsageScale.Day, UsageParam.Traffic, days_before_now=7, limit=7
            )
            process = await client.get_process_usage(days_before_now=30)
            summary = await client.get_usage_summary()
            updated = await client.update_usage()
            pipeline = " → ".join(client.pipeline.names)
        lines = [
            f"Geobox usage demo — simulated server at {sim.api_url} (seed {seed})",
            f"pipeline: {pipeline}",
            "",
            f"User {user.username!r} (id {user.user_id})",
            "",
            "API calls per day, last 14 days",
            *series_table(calls, "calls"),
            "",
            "Traffic per day, last 7 days",
            *series_table(traffic, "traffic"),
            "",
            f"Processing in the last 30 days: {process:,.1f} s ({process / 3600:,.2f} h)",
            "",
            *summary_lines("Usage summary", summary),
            "",
            *summary_lines("After update_usage (recomputed)", updated),
            "",
            *activity_lines(recorder, requests_seen=len(sim.requests)),
        ]
    write("\n".join(lines) + "\n")
    return 0


def summary_lines(title: str, summary: dict[str, Any]) -> list[str]:
    """A summary against limits: one row per measured quantity, with a bar of the share."""
    rows = []
    for name, value in summary.items():
        if not isinstance(value, dict) or "total" not in value:
            continue
        total, limit = float(value.get("total") or 0), float(value.get("limit") or 0)
        share = f"{total / limit:6.2%}" if limit else "     -"
        rows.append(
            [
                name,
                format_quantity(name, total),
                format_quantity(name, limit) if limit else "-",
                share,
                bar(total, limit, 20),
            ]
        )
    updated_at = summary.get("updated_at", "?")
    return [
        f"{title} (user {summary.get('user_id', '?')}, updated {updated_at})",
        *table(["quantity", "used", "limit", "share", ""], rows),
    ]


def activity_lines(recorder: PipelineRecorder, *, requests_seen: int) -> list[str]:
    """What the pipeline did: one row per attempt, then totals."""
    attempts = recorder.named("geobox.attempt")
    rows = [_attempt_row(e.fields) for e in attempts]
    waited = sum(float(e.fields.get("wait_s") or 0) for e in attempts if e.fields.get("will_retry"))
    retries = sum(1 for e in attempts if e.fields.get("will_retry"))
    refreshes = recorder.named("geobox.auth")
    return [
        "What the pipeline did",
        *table(["operation", "attempt", "status", "ms", "then"], rows),
        "",
        f"  {len(attempts)} attempts, {retries} retried, {waited:.2f} s waited; "
        f"{len(refreshes)} token fetches; the server saw {requests_seen} requests",
    ]


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
