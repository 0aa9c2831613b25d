"""The ``geobox-usage`` command line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from geobox_usage.cli import main


def test_demo_runs_every_operation_and_reports_what_the_pipeline_did(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    out, err = captured.out, captured.err
    for heading in (
        "Geobox usage demo",
        "pipeline: logging → cache → retry → circuit_breaker → rate_limit → auth → transport",
        "API calls per day, last 14 days",
        "Traffic per day, last 7 days",
        "Processing in the last 30 days:",
        "Usage summary (user 7",
        "After update_usage (recomputed)",
        "What the pipeline did",
    ):
        assert heading in out, heading
    assert "█" in out  # the charts
    assert "retry in" in out and "(retry-after)" in out  # the faults were ridden out
    assert "gave up" not in out
    # the pipeline's events, as readable console lines on stderr
    assert "geobox.call" in err
    assert "geobox.audit" in err
    assert "operation=update_usage" in err
    assert "{" not in err.splitlines()[0]


def test_demo_log_json_prints_one_json_object_per_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    assert main(["demo", "--log-json"]) == 0
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]
    names = {e["event"] for e in events}
    assert {"geobox.call", "geobox.attempt", "geobox.audit"} <= names
    assert all("timestamp" in e and "level" in e for e in events)


def test_the_console_script_is_installed_and_answers_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "geobox_usage.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.stdout.startswith("geobox-usage ")


def test_serve_rejects_a_chaos_share_outside_zero_to_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--chaos", "1.5"]) == 2
    assert "--chaos must be from 0 to 1" in capsys.readouterr().err


def test_unknown_commands_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2


def test_serve_answers_over_http_until_interrupted() -> None:
    import json
    import signal
    import urllib.request

    from geobox_usage.testing import DEMO_ACCESS_TOKEN, DEMO_USER_ID

    proc = subprocess.Popen(
        [sys.executable, "-m", "geobox_usage.cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("simulated Geobox usage API at http://127.0.0.1:"), first
        api_url = first.rsplit(" ", 1)[1].strip()
        request = urllib.request.Request(
            api_url + "users/me/",
            headers={"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["id"] == DEMO_USER_ID
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == 0
