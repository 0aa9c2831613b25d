"""The task running on a loop, found the cheapest way the running Python offers.

``asyncio.current_task(loop)`` is a function written in Python on 3.11 whose whole work
is ``asyncio.tasks._current_tasks.get(loop)``; the client asks three times per call.
From 3.12 it is written in C. This module answers with the dict's own ``get`` on 3.11
and with ``asyncio.current_task`` itself elsewhere (or if the dict is ever missing).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["current_task"]

_running: Any = getattr(asyncio.tasks, "_current_tasks", None)

current_task: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None] = (
    _running.get
    if sys.version_info < (3, 12) and isinstance(_running, dict)
    else asyncio.current_task
)
"""``current_task(loop)``: the task running on ``loop`` now, or ``None``."""
