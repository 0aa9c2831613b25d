"""The commands that ask the API, run with click's runner against the simulator."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result

from geobox_usage import AsyncGeoboxClient, UsageParam, UsageScale
from geobox_usage.cli import ExitCode, cli
from geobox_usage.testing import (
    DEMO_ACCESS_TOKEN,
    DEMO_API_KEY,
    DEMO_API_KEY_ID,
    DEMO_PASSWORD,
    DEMO_USER_ID,
    DEMO_USERNAME,
    OTHER_USER_ID,
    Fault,
    SimulatedGeobox,
)

TOKEN = ["--access-token", DEMO_ACCESS_TOKEN]


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, list(args), catch_exceptions=False)


def at(sim: SimulatedGeobox, *args: str) -> list[str]:
    return [*args, "--host", sim.base_url, *TOKEN]


def direct(sim: SimulatedGeobox, call: str, *args: Any, **kwargs: Any) -> Any:
    """What the library returns for the same call, for comparing with ``--json``."""

    async def main() -> Any:
        async with AsyncGeoboxClient(sim.base_url, access_token=DEMO_ACCESS_TOKEN) as client:
            return await getattr(client, call)(*args, **kwargs)

    return asyncio.run(main())


# ------------------------------------------------------------------ every command, each mode


def test_whoami(runner: CliRunner, threaded_sim: SimulatedGeobox) -> None:
    human = run(runner, *at(threaded_sim, "whoami"))
    assert human.exit_code == 0, human.output
    assert DEMO_USERNAME in human.stdout and str(DEMO_USER_ID) in human.stdout
    raw = run(runner, *at(threaded_sim, "whoami", "--json"))
    assert json.loads(raw.stdout) == direct(threaded_sim, "get_user").data


def test_summary_shows_used_against_limit(runner: CliRunner, threaded_sim: SimulatedGeobox) -> None:
    human = run(runner, *at(threaded_sim, "summary"))
    assert human.exit_code == 0, human.output
    for label in ("API calls today", "API calls this month", "Traffic this month", "Storage"):
        assert label in human.stdout, label
    assert "%" in human.stdout and "remaining days" in human.stdout
    raw = run(runner, *at(threaded_sim, "summary", "--json"))
    assert json.loads(raw.stdout) == direct(threaded_sim, "get_usage_summary")


def test_summary_of_another_user(runner: CliRunner, threaded_sim: SimulatedGeobox) -> None:
    # The demo user may not read another user's usage: a permission error, exit 3.
    denied = run(runner, *at(threaded_sim, "summary", "--user-id", str(OTHER_USER_ID)))
    assert denied.exit_code == ExitCode.AUTH
    assert threaded_sim.requests[-1].query == (("user_id", str(OTHER_USER_ID)),)


def test_update_is_sent_once_and_shows_the_recomputed_summary(
    runner: CliRunner, threaded_sim: SimulatedGeobox
) -> None:
    human = run(runner, *at(threaded_sim, "update"))
    assert human.exit_code == 0, human.output
    assert "Recomputed usage" in human.stdout
    assert threaded_sim.updates_performed == 1
    raw = run(runner, *at(threaded_sim, "update", "--json"))
    assert isinstance(json.loads(raw.stdout), dict)
    assert threaded_sim.updates_performed == 2


def test_process(runner: CliRunner, threaded_sim: SimulatedGeobox) -> None:
    human = run(runner, *at(threaded_sim, "process", "--days", "30"))
    assert human.exit_code == 0, human.output
    assert "Processing, last 30 days" in human.stdout and " s (" in human.stdout
    raw = run(runner, *at(threaded_sim, "process", "--from", "2026-11-01", "--to", "2026-11-08"))
    assert raw.exit_code == 0
    sent = dict(threaded_sim.requests[-1].query)
    assert (sent["from_date"], sent["to_date"]) == (
        "2026-11-01T00:00:00.000000",
        "2026-11-08T00:00:00.000000",
    )
    week = ("--from", "2026-11-01", "--to", "2026-11-08")
    as_json = run(runner, *at(threaded_sim, "process", *week, "--json"))
    assert json.loads(as_json.stdout) == direct(
        threaded_sim, "get_process_usage", from_date=datetime(2026, 11, 1),
        to_date=datetime(2026, 11, 8),
    )  # fmt: skip


def test_api_usage_table_and_chart(runner: CliRunner, threaded_sim: SimulatedGeobox) -> None:
    result = run(runner, *at(threaded_sim, "api-usage", "--days", "14"))
    assert result.exit_code == 0, result.output
    assert "API calls per day, last 14 days (you)" in result.stdout
    assert "total (" in result.stdout
    assert any(c in result.stdout for c in "█▏▎▍▌▋▊▉━")  # the bars


def test_api_usage_asks_for_every_point_of_a_long_period(
    runner: CliRunner, threaded_sim: SimulatedGeobox
) -> None:
    result = run(runner, *at(threaded_sim, "api-usage", "--days", "60", "--csv"))
    assert result.exit_code == 0, result.output
    sent = dict(threaded_sim.requests[-1].query)
    assert int(sent["limit"]) >= 61  # never the server's default of 10
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["time", "calls"]
    assert len(rows) - 1 > 10


def test_api_usage_csv_is_the_series_as_sent(
    runner: CliRunner, threaded_sim: SimulatedGeobox
) -> None:
    result = run(runner, *at(threaded_sim, "api-usage", "--scale", "hour", "--param", "traffic",
                             "--days", "1", "--csv"))  # fmt: skip
    assert result.exit_code == 0, result.output
    user = direct(threaded_sim, "get_user")
    points = direct(threaded_sim, "get_api_usage", user, UsageScale.Hour, UsageParam.Traffic,
                    days_before_now=1, limit=26)  # fmt: skip
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows == [["time", "traffic"], *([str(t), str(v)] for t, v in points)]


def test_api_usage_of_an_api_key_in_json(runner: CliRunner, threaded_sim: SimulatedGeobox) -> None:
    result = run(runner, *at(threaded_sim, "api-usage", "--days", "3", "--json",
                             "--apikey-id", str(DEMO_API_KEY_ID)))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), list)
    sent = dict(threaded_sim.requests[-1].query)
    assert sent["eid"] == DEMO_API_KEY
    assert DEMO_API_KEY not in result.output


def test_simulate_needs_no_account(runner: CliRunner) -> None:
    result = run(runner, "summary", "--simulate", "--json")
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), dict)


def test_credentials_come_from_the_environment(
    runner: CliRunner, threaded_sim: SimulatedGeobox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOBOX_HOST", threaded_sim.base_url)
    monkeypatch.setenv("GEOBOX_USERNAME", DEMO_USERNAME)
    monkeypatch.setenv("GEOBOX_PASSWORD", DEMO_PASSWORD)
    result = run(runner, "whoami", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == DEMO_USER_ID


# ------------------------------------------------------------------ failures: one line, a code


def _fails(result: Result, code: ExitCode, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("geobox-usage: error: ") or lines[-1].startswith("Error: ")
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, needle


def test_no_credentials_is_an_auth_error(runner: CliRunner, threaded_sim: SimulatedGeobox) -> None:
    result = run(runner, "whoami", "--host", threaded_sim.base_url)
    _fails(result, ExitCode.USAGE, "credentials")
    assert threaded_sim.requests == ()


def test_a_wrong_password_exits_3(runner: CliRunner, threaded_sim: SimulatedGeobox) -> None:
    result = run(runner, "whoami", "--host", threaded_sim.base_url, "--username", DEMO_USERNAME,
                 "--password", "not-it")  # fmt: skip
    _fails(result, ExitCode.AUTH, "401")
    assert "not-it" not in result.output


def test_an_unknown_user_exits_4(runner: CliRunner, threaded_sim: SimulatedGeobox) -> None:
    _fails(run(runner, *at(threaded_sim, "api-usage", "--days", "1", "--user-id", "999")),
           ExitCode.NOT_FOUND, "404")  # fmt: skip


def test_rate_limited_exits_5_and_shows_each_wait(
    runner: CliRunner, threaded_sim: SimulatedGeobox
) -> None:
    threaded_sim.faults.sequence("usage/summary", *[Fault.status(429, retry_after=0.01)] * 4)
    result = run(runner, *at(threaded_sim, "summary"))
    _fails(result, ExitCode.RATE_LIMITED, "429")
    waits = [line for line in result.stderr.splitlines() if "retrying in" in line]
    assert len(waits) == 3, result.stderr
    assert "get_usage_summary: attempt 1 got 429; retrying in 0.01 s (retry-after)" in waits[0]


def test_a_server_fault_exits_6(runner: CliRunner, threaded_sim: SimulatedGeobox) -> None:
    threaded_sim.faults.sequence("usage/summary", Fault.status(500))
    _fails(run(runner, *at(threaded_sim, "summary", "--attempts", "1")), ExitCode.UNAVAILABLE,
           "500")  # fmt: skip


def test_a_retried_fault_that_clears_succeeds(
    runner: CliRunner, threaded_sim: SimulatedGeobox
) -> None:
    threaded_sim.faults.sequence("usage/summary", Fault.status(503, retry_after=0.01))
    result = run(runner, *at(threaded_sim, "summary", "--json"))
    assert result.exit_code == 0
    assert "attempt 1 got 503; retrying in 0.01 s" in result.stderr


def test_no_server_exits_6(runner: CliRunner) -> None:
    with SimulatedGeobox().in_thread() as gone:
        host = gone.base_url
    result = run(runner, "whoami", "--host", host, *TOKEN, "--attempts", "1")
    _fails(result, ExitCode.UNAVAILABLE, "cannot connect")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["api-usage", "--simulate"], "give --days N, or both --from DATE and --to DATE"),
        (["api-usage", "--simulate", "--days", "2", "--from", "2026-01-01"], "not both"),
        (["process", "--simulate", "--from", "2026-02-01", "--to", "2026-01-01"], "before"),
        (["api-usage", "--simulate", "--days", "0"], "0 is not in the range x>=1"),
        (["api-usage", "--simulate", "--days", "1", "--scale", "week"], "'week' is not one of"),
        (["api-usage", "--simulate", "--days", "1", "--user-id", "1", "--apikey-id", "2"],
         "not both"),
        (["api-usage", "--simulate", "--days", "1", "--json", "--csv"], "not both"),
        (["summary", "--user-id", "seven", "--simulate"], "'seven' is not a valid integer"),
        (["frobnicate"], "No such command"),
    ],
)  # fmt: skip
def test_bad_usage_exits_2_before_any_request(
    runner: CliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
