"""Running fleet_worker.py processes from a test, without blocking its event loop."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("fleet_worker.py")


async def run_worker(*args: object, timeout: float = 60.0) -> dict[str, Any]:
    """Run one worker process to its end; its JSON result."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        *map(str, args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    if process.returncode != 0:
        raise AssertionError(f"worker {args[0]} failed:\n{err.decode()}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result
