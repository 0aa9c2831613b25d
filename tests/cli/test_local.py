"""The commands that need no account: ``demo``, ``serve``, ``--version``, ``python -m``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from geobox_usage import AsyncGeoboxClient
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
        [sys.executable, "-m", "geobox_usage", "--version"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert result.stdout.startswith("geobox-usage, version ")


def test_serve_rejects_a_chaos_share_outside_zero_to_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--chaos", "1.5"]) == 2
    assert "1.5 is not in the range 0.0<=x<=1.0" in capsys.readouterr().err


def test_serve_says_clearly_when_the_port_is_taken(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert "--port 0 picks a free one" in err and "Traceback" not in err


def test_unknown_commands_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "No such command 'frobnicate'" in capsys.readouterr().err


_AS_IN_A_TERMINAL = (
    "import runpy, signal, sys; "
    "signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'geobox-usage'; "
    "runpy.run_module('geobox_usage', run_name='__main__')"
)
"""``python -m geobox_usage`` (arguments follow), with Ctrl-C handled as in a terminal.

A process started with SIGINT ignored (the tests run as a shell's background job, under
``nohup``, by some CI runners) passes that on to its children, and Python then keeps
ignoring it, as the convention asks: ``serve`` would not stop on the test's Ctrl-C. This
was the serve test's occasional failure. A person's terminal delivers SIGINT, so the
test restores Python's own handler first.
"""


def test_serve_prints_the_host_to_pass_and_logs_each_request() -> None:
    from geobox_usage.testing import DEMO_ACCESS_TOKEN, DEMO_API_KEY, DEMO_USER_ID

    proc = subprocess.Popen(
        [sys.executable, "-c", _AS_IN_A_TERMINAL, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("simulated Geobox usage API; pass host='http://127.0.0.1:"), first
        host = first.split("host=", 1)[1].strip().strip("'")
        while "press Ctrl-C" not in proc.stdout.readline():
            pass

        async def ask() -> int:
            async with AsyncGeoboxClient(host, apikey=DEMO_API_KEY) as client:
                return (await client.get_user()).user_id

        assert asyncio.run(ask()) == DEMO_USER_ID  # host= works as printed: no /v1/v1/
        request = urllib.request.Request(
            host + "v1/users/me/", headers={"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.load(answer)["id"] == DEMO_USER_ID
        logged = [proc.stdout.readline().strip() for _ in range(2)]
        assert logged[0].startswith("GET /v1/users/me/ -> 200 ("), logged
        assert logged[1].startswith("GET /v1/users/me/ -> 200 ("), logged
        assert DEMO_API_KEY not in "".join(logged)  # the query is never logged
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
    assert proc.returncode == 0
