"""How long an operation held its worker's event loop: the longest step of its coroutine.

While an operation's code runs between two awaits (one step of its coroutine, resumed by the
loop), nothing else of that worker runs. Held is awaited in the coroutine's place and times
each step with two perf_counter() calls (a GET takes two steps); as the operation ends it hands
the longest to `report` (server/system/loop_guard.py). A Python-level iterator in the await
chain costs about a microsecond a request; every other way in (a task factory wrapping Sanic's
connection tasks, a sampling thread) ties the measure to Sanic's internals or guesses it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from time import perf_counter
from typing import Any

from server.context import Request

Report = Callable[[Request, float], None]


class Held:
    """An operation's coroutine, awaited as itself, with each step timed (see the module)."""

    __slots__ = ("coro", "longest", "report", "request")

    def __init__(self, report: Report, request: Request, coro: Coroutine[Any, Any, Any]):
        self.report, self.request, self.coro = report, request, coro
        self.longest = 0.0

    def __await__(self) -> Generator[Any, None, Any]:
        return self  # type: ignore[return-value]  # an iterator with send and throw, as awaited

    def __next__(self) -> Any:  # how a step resumes with None, the usual case
        started = perf_counter()
        try:
            yielded = self.coro.send(None)
        except BaseException:  # StopIteration included: the operation is over
            self._over(perf_counter() - started)
            raise
        held = perf_counter() - started
        if held > self.longest:
            self.longest = held
        return yielded

    def send(self, value: Any) -> Any:
        return self._step(self.coro.send, value)

    def throw(self, *exc: Any) -> Any:  # a cancellation: the client went away
        return self._step(self.coro.throw, *exc)

    def _step(self, resume: Callable[..., Any], *args: Any) -> Any:
        """__next__ for the other ways of resuming (rare: asyncio resumes with None), which
        spells it out to save a call on every step."""
        started = perf_counter()
        try:
            yielded = resume(*args)
        except BaseException:
            self._over(perf_counter() - started)
            raise
        held = perf_counter() - started
        if held > self.longest:
            self.longest = held
        return yielded

    def close(self) -> None:
        self.coro.close()

    @property
    def cr_await(self) -> Coroutine[Any, Any, Any]:
        """What it awaits, as a coroutine says (tracebacks and task dumps walk through it)."""
        return self.coro

    def _over(self, last: float) -> None:
        self.report(self.request, max(self.longest, last))
