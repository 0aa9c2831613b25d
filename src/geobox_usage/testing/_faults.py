"""Fault injection: what can go wrong with one answer, and a plan saying when it goes wrong.

A :class:`Fault` describes one way an answer is refused, delayed, lost or damaged. A
:class:`FaultPlan` decides, request by request, which fault (if any) the simulated
server applies, from rules matched against the request's method and path. Plans are
deterministic: ``sequence`` rules fire in order and ``random`` rules draw from the
plan's own seeded :class:`random.Random`, so a test that sends the same requests in the
same order sees the same faults on every run.

When a fault is applied matters for operations that change state (``POST usage/update``)
and is decided by :attr:`Fault.before_work`:

* a fault that *refuses* the request outright (any 4xx status such as 429, a 503 that
  carries ``Retry-After``, and :meth:`Fault.expire_token`) is applied **before** the
  work: the server did nothing;
* every other fault (500, 502, 504, a 503 without ``Retry-After``, delay, drop,
  truncate, not_json) is applied **after** the work: the update was performed and
  recorded, but its answer is late, lost or damaged. This models a gateway that
  forwarded the request before failing, which is exactly the case a client must not
  blindly repeat.
"""

from __future__ import annotations

import enum
import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase

__all__ = [
    "Fault",
    "FaultKind",
    "FaultPlan",
    "chaos_plan",
    "route_matches",
]


class FaultKind(enum.Enum):
    """The kinds of fault the simulator can inject."""

    STATUS = "status"
    DELAY = "delay"
    DROP = "drop"
    TRUNCATE = "truncate"
    NOT_JSON = "not_json"
    EXPIRE_TOKEN = "expire_token"


@dataclass(frozen=True, slots=True)
class Fault:
    """One way an answer goes wrong; build it with the class-method constructors.

    Attributes:
        kind: what happens to the answer.
        code: the HTTP status sent by a ``STATUS`` fault.
        retry_after: the ``Retry-After`` of a ``STATUS`` fault: seconds (sent as given,
            so ``0.05`` is sent as ``"0.05"``) or a moment (sent as an HTTP-date).
        html: a ``STATUS`` fault sends a ``text/html`` page instead of JSON; a
            ``NOT_JSON`` fault sends an HTML page instead of ``text/plain`` ``OK``.
        detail: the ``detail`` of a ``STATUS`` fault's JSON body; defaults to the
            status's reason phrase.
        headers: extra headers a ``STATUS`` fault sends, as ``(name, value)`` pairs.
        seconds: how long a ``DELAY`` fault waits before answering.
    """

    kind: FaultKind
    code: int | None = None
    retry_after: float | datetime | None = None
    html: bool = False
    detail: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: float | datetime | None = None,
        html: bool = False,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer ``code`` instead of the real answer.

        Typical uses: ``Fault.status(429, retry_after=0.01)`` for a rate limit,
        ``Fault.status(502, html=True)`` for a gateway error page.
        """
        if not 100 <= code <= 599:
            raise ValueError(f"not an HTTP status: {code}")
        return cls(
            FaultKind.STATUS,
            code=code,
            retry_after=retry_after,
            html=html,
            detail=detail,
            headers=tuple((headers or {}).items()),
        )

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds``, then answer normally (a slow server, or a read timeout)."""
        if seconds < 0:
            raise ValueError(f"a delay cannot be negative: {seconds}")
        return cls(FaultKind.DELAY, seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Read the request, then close the connection without sending any answer.

        An aiohttp client sees :class:`aiohttp.ServerDisconnectedError`. Note that
        aiohttp itself sends an idempotent request (``GET``) once more after such a
        disconnect, so its caller only sees the error when two drops come in a row;
        the simulator logs both attempts.
        """
        return cls(FaultKind.DROP)

    @classmethod
    def truncate(cls) -> Fault:
        """Cut a ``200`` ``application/json`` answer short: about half the body, then
        the connection closes.

        The ``Content-Length`` announces the whole body, so the client sees a payload
        error at the transport level (the server did the work; the answer was lost),
        not a complete body that is not JSON (that is :meth:`not_json`).
        """
        return cls(FaultKind.TRUNCATE)

    @classmethod
    def not_json(cls, *, html: bool = False) -> Fault:
        """Send a ``200`` whose body is not JSON: ``text/plain`` ``OK``, or an HTML page."""
        return cls(FaultKind.NOT_JSON, html=html)

    @classmethod
    def expire_token(cls) -> Fault:
        """Mark the presented bearer token expired and answer ``401 Token expired``.

        The token stays expired for later requests, as a real expiry would. A request
        without a bearer token gets the same ``401``.
        """
        return cls(FaultKind.EXPIRE_TOKEN)

    @property
    def before_work(self) -> bool:
        """Whether the fault is applied before the server does the request's work.

        True for refusals: any 4xx status (a 429 above all), a 503 carrying
        ``Retry-After``, and ``expire_token``. False for everything else, whose answer
        is lost or damaged after the work was done.
        """
        if self.kind is FaultKind.EXPIRE_TOKEN:
            return True
        if self.kind is not FaultKind.STATUS or self.code is None:
            return False
        return 400 <= self.code < 500 or (self.code == 503 and self.retry_after is not None)


def route_matches(pattern: str, method: str, path: str) -> bool:
    """Whether a route pattern matches a request.

    Args:
        pattern: ``"*"``, a path relative to ``/v1/`` (``"usage/api"``), or a method
            and a path (``"POST usage/update"``); the path may be an fnmatch glob
            (``"users/*"``). Leading and trailing slashes are ignored, so
            ``"auth/token"`` matches ``auth/token/``; the method is case-insensitive.
        method: the request's method.
        path: the request's path relative to ``/v1/``.
    """
    want_method, _, want_path = pattern.strip().rpartition(" ")
    if want_method and want_method.upper() != method.upper():
        return False
    return fnmatchcase(path.strip("/"), want_path.strip("/") or "*")


@dataclass(slots=True)
class _Sequence:
    route: str
    faults: list[Fault | None]

    def next(self, method: str, path: str) -> Fault | None:
        if not self.faults or not route_matches(self.route, method, path):
            return None
        return self.faults.pop(0)


@dataclass(slots=True)
class _Random:
    route: str
    probability: float
    faults: tuple[Fault, ...]
    exclude: tuple[str, ...] = field(default=())

    def next(self, method: str, path: str, rng: random.Random) -> Fault | None:
        if not route_matches(self.route, method, path):
            return None
        if any(route_matches(pattern, method, path) for pattern in self.exclude):
            return None
        if rng.random() >= self.probability:
            return None
        return rng.choice(self.faults)


class FaultPlan:
    """Rules deciding which fault, if any, each request gets.

    Rules are consulted in the order they were added; the first rule that yields a
    fault wins and later rules are not consulted for that request. A ``sequence``
    step of ``None`` is consumed by the request and yields no fault, so later rules
    may still fault that request. Every method that adds rules returns the plan, so
    calls chain::

        plan = FaultPlan(seed=1).sequence("POST usage/update", Fault.drop()).random(
            "usage/*", 0.2, [Fault.status(502, html=True)]
        )

    The plan may be changed while a server uses it, from any thread: it guards its
    state with a lock.
    """

    def __init__(self, seed: int = 0) -> None:
        """Create an empty plan.

        Args:
            seed: seeds the plan's :class:`random.Random`, so random rules fault the
                same requests on every run.
        """
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules: list[_Sequence | _Random] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        with self._lock:
            return f"FaultPlan(seed={self._seed}, rules={len(self._rules)})"

    @property
    def seed(self) -> int:
        """The seed the plan's random rules draw from."""
        return self._seed

    def sequence(self, route: str, *faults: Fault | None) -> FaultPlan:
        """Give the next requests matching ``route`` these faults, one each, in order.

        ``None`` means "answer that request normally". Once every step is used the
        rule is exhausted and matches nothing.
        """
        with self._lock:
            self._rules.append(_Sequence(route, list(faults)))
        return self

    def random(
        self,
        route: str,
        probability: float,
        faults: Sequence[Fault],
        *,
        exclude: Iterable[str] = (),
    ) -> FaultPlan:
        """Fault each request matching ``route`` with the given probability.

        Args:
            route: the route pattern (see :func:`route_matches`).
            probability: the chance, from 0 to 1, that a matching request is faulted.
            faults: the faults to choose from, each equally likely.
            exclude: route patterns this rule leaves alone (``["auth/token/"]``).
        """
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {probability}")
        if not faults:
            raise ValueError("a random rule needs at least one fault")
        with self._lock:
            self._rules.append(_Random(route, probability, tuple(faults), tuple(exclude)))
        return self

    def clear(self) -> FaultPlan:
        """Remove every rule and reseed the random generator, as if new."""
        with self._lock:
            self._rules.clear()
            self._rng = random.Random(self._seed)
        return self

    @property
    def exhausted(self) -> bool:
        """Whether every ``sequence`` rule has used all of its steps."""
        with self._lock:
            return all(not r.faults for r in self._rules if isinstance(r, _Sequence))

    def pick(self, method: str, path: str) -> Fault | None:
        """Decide the fault for one request, consuming sequence steps and random draws.

        The simulator calls this once per request; tests rarely need to.

        Args:
            method: the request's method.
            path: the request's path relative to ``/v1/``.
        """
        with self._lock:
            for rule in self._rules:
                if isinstance(rule, _Sequence):
                    fault = rule.next(method, path)
                else:
                    fault = rule.next(method, path, self._rng)
                if fault is not None:
                    return fault
            return None


def chaos_plan(
    probability: float = 0.3,
    *,
    seed: int = 0,
    max_delay: float = 0.05,
    retry_after: float = 0.01,
    route: str = "*",
    exclude: Iterable[str] = (),
) -> FaultPlan:
    """A plan of transient faults of every kind, in equal parts.

    Each matching request is faulted with ``probability``, by one of: a 429 with
    ``Retry-After: retry_after``; a 502, 503 or 504 with an HTML page; a 503 with
    ``Retry-After: retry_after``; a delay of ``max_delay``; a drop; a truncated JSON
    body. A resilient client recovers from all of them (the 502/503/504, delay, drop
    and truncate are applied after the work, see the module docstring).

    Args:
        probability: the chance that a request is faulted.
        seed: the plan's seed.
        max_delay: seconds of the delay fault: choose it longer than the client's read
            timeout so a delayed answer times out.
        retry_after: seconds sent in ``Retry-After``; keep it small in tests.
        route: which requests the chaos applies to.
        exclude: route patterns left alone.
    """
    faults = [
        Fault.status(429, retry_after=retry_after),
        Fault.status(502, html=True),
        Fault.status(503, html=True),
        Fault.status(504, html=True),
        Fault.status(503, retry_after=retry_after),
        Fault.delay(max_delay),
        Fault.drop(),
        Fault.truncate(),
    ]
    return FaultPlan(seed).random(route, probability, faults, exclude=exclude)
