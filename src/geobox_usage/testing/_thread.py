"""Serving on a private event loop in a daemon thread, for code outside any event loop.

:meth:`~._server.SimulatedGeobox.in_thread` (and the ``geobox_sim`` pytest fixture) run
the simulator where the caller has no event loop to lend: synchronous tests, other
threads. :class:`LoopThread` owns that machinery (a new loop in a daemon thread, a
start handshake that reports bind failures to the starting thread, a thread-safe stop)
without knowing what it serves, so the server module keeps to HTTP and state.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

__all__ = ["LoopThread"]


class LoopThread:
    """Holds an async context manager open on its own loop in a daemon thread."""

    def __init__(self, name: str, what: str) -> None:
        """Prepare a runner; nothing starts yet.

        Args:
            name: the thread's name.
            what: what is served, for error messages (``"the simulator"``).
        """
        self.name = name
        self.what = what
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], None] | None = None

    @property
    def active(self) -> bool:
        """Whether a thread was started and not yet stopped."""
        return self._thread is not None

    def start(
        self, serve: Callable[[], AbstractAsyncContextManager[object]], timeout: float
    ) -> None:
        """Enter ``serve()`` on a new loop in a daemon thread; return once it is entered.

        The context stays open until :meth:`stop`.

        Args:
            serve: makes the context manager to enter (on the new loop).
            timeout: seconds to wait for it to be entered.

        Raises:
            RuntimeError: already started, or not entered within ``timeout``.
            BaseException: whatever entering the context raised (e.g. :class:`OSError`).
        """
        if self._thread is not None:
            raise RuntimeError(f"{self.what} is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def hold() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()

            def request_stop() -> None:
                loop.call_soon_threadsafe(stop.set)

            async with serve():
                self._stop = request_stop
                ready.set()
                await stop.wait()

        def main() -> None:
            try:
                asyncio.run(hold())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
            finally:
                ready.set()

        thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._thread = thread
        thread.start()
        if not ready.wait(timeout) or failure:
            if self._stop is not None:
                self._stop()
            thread.join(timeout)
            self._thread = self._stop = None
            if failure:
                raise failure[0]
            raise RuntimeError(f"{self.what} did not start within {timeout} s")

    def stop(self, timeout: float) -> None:
        """Leave the context and wait (at most ``timeout``) for the thread to end.

        Does nothing when not started.
        """
        thread, stop = self._thread, self._stop
        self._thread = self._stop = None
        if stop is not None:
            stop()
        if thread is not None:
            thread.join(timeout)
