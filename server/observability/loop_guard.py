"""The event-loop guard: how late each worker's event loop runs, and which request held it.

A worker's requests share one thread. While a request's code runs between two awaits (one step
of its coroutine), nothing else of that worker runs: no other request, no stream, no /health. So
a request *holds the loop* for the length of its longest step, not for its whole time (mostly
spent waiting on PostgreSQL while others run) nor for its CPU summed over steps (a thousand short
steps block nobody for long).

Measured without touching a request's path (timing every step of every request cost a GET about
2% of its CPU): the loop beats every BEAT, and how late each beat runs is the loop's lag
(todo_event_loop_lag_seconds, todo_event_loop_lag_current_seconds). A beat late by HOLD or more
is a hold: nothing ran for that long. A watcher thread looks every WATCH whether the loop has
missed its beat and, while it has, reads whose code the loop thread is running: the innermost
frame holding a `request` of ours. Every hold of HOLD or more is seen at least once, so it is
counted by that request's operation (`-` when no request's code held it: background work, or C
code that never lets the watcher run) in todo_event_loop_hold_seconds and, the worst so far,
todo_event_loop_hold_max_seconds; past LOOP_HOLD_LOG_MS it is logged with the request. A hold
still going after STUCK is logged while it lasts (a loop that never comes back says so once).
It is wall time: a loop the machine stopped for that long was held as surely."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from time import perf_counter
from types import FrameType
from typing import Any, NamedTuple

from sanic import Request

from server.observability.metrics import Metrics

log = logging.getLogger("todo_api")
BEAT = 0.02  # seconds between the loop's beats (its lag is sampled each time)
WATCH = 0.025  # seconds between the watcher's looks: a hold of 2 x WATCH cannot slip by
HOLD = 0.05  # a beat this late is a hold of the loop, counted by whose code held it
STUCK = 5.0  # a hold this long is logged while it lasts
UNATTRIBUTED = "-"


class Holder(NamedTuple):
    """The request whose code the loop thread was running during a hold."""

    operation: str
    request_id: str
    method: str
    path: str


class LoopGuard:
    def __init__(self, metrics: Metrics | None, log_over_ms: int) -> None:
        self.metrics, self.log_over = metrics, log_over_ms / 1000
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._beat_at = self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._holder: Holder | None = None  # set by the watcher during a hold, taken by the beat
        self._paused = False  # the loop stopped running (a test's loop between runs): not held
        self._stopped_at = 0.0  # when the watcher last saw it stopped (it ran again after that)
        self._stopped = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """On the loop's thread, as the worker starts serving."""
        self._loop, self._loop_thread = asyncio.get_running_loop(), threading.get_ident()
        self._beat_at = self._due = perf_counter()
        self._beat()
        self._watcher = threading.Thread(target=self._watch, name="loop-guard", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._handle is not None:
            self._handle.cancel()
        if self._watcher is not None:
            self._watcher.join(timeout=1)

    def _beat(self) -> None:
        now = perf_counter()
        lag = max(0.0, now - self._due)
        holder, self._holder = self._holder, None
        if self._paused:  # the loop was not running, so nothing held it until it ran again
            self._paused, lag = False, max(0.0, now - max(self._due, self._stopped_at))
        self._beat_at, self._due = now, now + BEAT
        assert self._loop is not None
        self._handle = self._loop.call_later(BEAT, self._beat)
        if self.metrics is not None:
            self.metrics.observe_lag(lag)
        if lag >= HOLD:
            self._held(lag, holder)

    def _held(self, seconds: float, holder: Holder | None) -> None:
        operation = holder.operation if holder else UNATTRIBUTED
        if self.metrics is not None:
            self.metrics.observe_hold(operation, seconds)
        if seconds > self.log_over:
            log.warning("the event loop was held", extra=_fields(seconds, holder))

    def _watch(self) -> None:
        """The watcher thread: who holds the loop while it misses its beat."""
        loop, stuck_logged = self._loop, False
        assert loop is not None
        while not self._stopped.wait(WATCH):
            if not loop.is_running():
                self._stopped_at, self._paused = perf_counter(), True
                continue
            # a loop that ran again holds nothing of the time it did not run, until its beat
            overdue = perf_counter() - max(self._beat_at, self._stopped_at) - BEAT
            if overdue <= 0:
                stuck_logged = False
                continue
            if self._holder is None:
                self._holder = self._find_holder()
            if overdue > STUCK and not stuck_logged:
                stuck_logged = True
                fields = _fields(overdue + BEAT, self._holder)
                log.warning("the event loop is held and has not come back", extra=fields)

    def _find_holder(self) -> Holder | None:
        frame: FrameType | None = sys._current_frames().get(self._loop_thread)
        while frame is not None:
            if "request" in frame.f_code.co_varnames:
                request: Any = frame.f_locals.get("request")
                if isinstance(request, Request):  # ours: server.contract.context.Request
                    route = request.route
                    name = route.name.rpartition(".")[2] if route else UNATTRIBUTED
                    # a path that holds a secret is logged as its template (contract/context.py)
                    path = getattr(request, "logged_path", request.path)
                    return Holder(name, request.ctx.request_id, request.method, path)
            frame = frame.f_back
        return None


def _fields(seconds: float, holder: Holder | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"held_ms": round(seconds * 1000, 1), "operation": UNATTRIBUTED}
    if holder is not None:
        fields.update(holder._asdict())
    return fields
