"""The event-loop guard: how long each request held the loop, and how late the loop runs.

A worker's requests share one thread. While a request's code runs between two awaits (one step
of its coroutine), nothing else of that worker runs: no other request, no heartbeat, no /health.
So a request *holds the loop* for the length of its longest step, not for its whole time (most of
which it spends waiting on PostgreSQL, letting others run) nor for its CPU summed over steps (a
thousand short steps block nobody for long). server/contract/held.py wraps each operation's
coroutine and times every step it takes (two perf_counter() calls a step; a GET takes two): the
longest is the request's hold, reported here as the operation ends. It is wall time, so a step
the machine preempted counts as held, as it did hold the loop.

Each finished request's hold goes to /metrics (todo_http_request_loop_hold_seconds by operation,
and the worst so far, todo_http_request_loop_hold_max_seconds) and, past LOOP_HOLD_LOG_MS, to
the log with its operation. Work outside a request (background loops, the stream's shielded feed
reads) shows in the loop's lag: a sampler asks to wake every LAG_INTERVAL and records how late
it woke (todo_event_loop_lag_seconds, a histogram, and todo_event_loop_lag_current_seconds)."""

from __future__ import annotations

import asyncio
import logging
from time import perf_counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.context import App, Request
    from server.system.metrics import Metrics

log = logging.getLogger("todo_api")
LAG_INTERVAL = 0.1  # seconds between the lag sampler's wake-ups


class LoopGuard:
    """Where finished requests report their hold: metrics, and the log past the threshold."""

    def __init__(self, metrics: Metrics | None, log_over_ms: int) -> None:
        self.metrics = metrics
        self.log_over = log_over_ms / 1000

    def finished(self, request: Request, held: float) -> None:
        route = request.route
        route_name = route.name if route else None
        if self.metrics is not None:
            self.metrics.observe_hold(route_name, held)
        if held > self.log_over:
            log.warning(
                "request held the event loop",
                extra={
                    "operation": route_name.rpartition(".")[2] if route_name else None,
                    "held_ms": round(held * 1000, 1),
                    "request_id": request.ctx.request_id,
                    "method": request.method,
                    "path": request.path,
                },
            )


async def watch_lag(app: App) -> None:
    """Samples the loop's lag every LAG_INTERVAL until the worker stops."""
    metrics = app.ctx.metrics
    assert metrics is not None
    while True:
        asked = perf_counter()
        await asyncio.sleep(LAG_INTERVAL)
        metrics.observe_lag(max(0.0, perf_counter() - asked - LAG_INTERVAL))
