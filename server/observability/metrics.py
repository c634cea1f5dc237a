"""Prometheus metrics of every worker of an instance, served by any one of them at /metrics.

`todo-api serve` gives each run a fresh PROMETHEUS_MULTIPROC_DIR (`metrics_directory`) before
any worker starts: prometheus-client then keeps each worker's values in files of its own there,
and the worker answering /metrics adds them all up, so every worker is counted once. A worker
that stops marks itself dead, so its gauges leave the sums (its counters stay: totals never go
back). Without that variable (a test's in-process app) the app's own registry is served.

Requests are tallied in plain dictionaries in the response middleware, and the tallies are
written to prometheus-client's memory-mapped values at the end of the event loop's turn that
answered them: under load one write per operation and status (and per latency bucket) covers
every request of the turn, instead of three locked writes per request. The gauges are sampled
from the pool and the admission queue once a second, and by the worker answering a scrape just
before it does, rather than written on every acquire.
"""

from __future__ import annotations

import asyncio
import bisect
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from server.observability.multiproc import MULTIPROC_ENV

CONTENT_TYPE = CONTENT_TYPE_LATEST  # text/plain, the exposition format's version
SAMPLE_SECONDS = 1.0
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"  # a request no operation of the contract answers (404, 405, ...)


class Metrics:
    """The metrics of SPEC §10, in a registry of this app's own (tests build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)

        def gauge(name: str, doc: str) -> Gauge:
            # livesum: the sum over the workers alive now.
            return Gauge(name, doc, registry=self.registry, multiprocess_mode="livesum")

        self.requests = Counter(
            "todo_http_requests",
            "Requests answered, by operation (operationId) and status.",
            ["operation", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "todo_http_request_duration_seconds",
            "Time from the request's arrival to its response, by operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.pool_in_use = gauge("todo_db_pool_connections_in_use", "Connections handed out.")
        self.pool_waiting = gauge("todo_db_pool_waiting", "Requests waiting for a connection.")
        self.hash_queue = gauge(
            "todo_password_hash_queue_depth", "Password hashes and checks waiting or running."
        )
        # Driven by the live-events stream (issue 15): inc() when a stream opens, dec() when it
        # closes, in a try/finally around the stream.
        self.event_streams = gauge("todo_event_streams_open", "Open live-event streams.")
        self.connections_refused = Counter(
            "todo_connections_refused",
            "Connections closed as they arrived: their client held CLIENT_CONNECTION_LIMIT.",
            registry=self.registry,
        )
        # What the compiled plans left to openapi-core (server/contract/fallback.py).
        self.fallbacks = Counter(
            "todo_validation_fallbacks",
            "Requests and replies the compiled plan left to openapi-core, by operation and kind.",
            ["operation", "kind"],
            registry=self.registry,
        )
        # The event-loop guard (server/observability/loop_guard.py).
        self.hold = Histogram(
            "todo_event_loop_hold_seconds",
            "Holds of the event loop of 50 ms or more, by the operation whose code held it.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.worst_hold = Gauge(
            "todo_event_loop_hold_max_seconds",
            "The longest hold of the event loop so far, by the operation whose code held it.",
            ["operation"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.lag = Histogram(
            "todo_event_loop_lag_seconds",
            "How late the event loop ran its heartbeat (sampled every 20 ms).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lag_now = Gauge(
            "todo_event_loop_lag_current_seconds",
            "The event loop's lag at its latest heartbeat (the worst live worker's).",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        # This turn's tallies: requests by (route name, status); by route name, the latencies'
        # sum then a count per bucket of LATENCY_BUCKETS and one for +Inf, and the holds' alike.
        self._counts: dict[tuple[str | None, int], int] = {}
        self._latencies: dict[str | None, list[float]] = {}
        self._holds: dict[str | None, list[float]] = {}
        self._worst: dict[str, float] = {}  # the worst hold so far, by operation
        self._counters: dict[tuple[str | None, int], Counter] = {}  # label children, kept
        self._timers: dict[str | None, Histogram] = {}
        self._holders: dict[str | None, Histogram] = {}
        self._written = True  # no tally waits for the end of the turn

    def observe(self, route_name: str | None, status: int, seconds: float) -> None:
        """One answered request (route_name: Sanic's, "<app>.<operationId>"), written out at the
        end of this turn of the event loop (at once outside a running loop)."""
        key = (route_name, status)
        self._counts[key] = self._counts.get(key, 0) + 1
        _tally(self._latencies, route_name, seconds)
        if self._written:
            self._write_soon()

    def observe_hold(self, operation: str, seconds: float) -> None:
        """A hold of the event loop by an operation's code, written as observe() writes."""
        _tally(self._holds, operation, seconds)
        if seconds > self._worst.get(operation, 0.0):
            self._worst[operation] = seconds
            self.worst_hold.labels(operation).set(seconds)
        if self._written:
            self._write_soon()

    def observe_lag(self, seconds: float) -> None:
        self.lag.observe(seconds)
        self.lag_now.set(seconds)

    def _write_soon(self) -> None:
        self._written = False
        try:
            asyncio.get_running_loop().call_soon(self.write)
        except RuntimeError:  # no loop to come back: written now
            self.write()

    def write(self) -> None:
        """The tallies, into prometheus-client's values (a Histogram child keeps its sum and its
        buckets as `_sum` and `_buckets`, one value per bound with +Inf last: adding a count to
        a bucket is what observe() does once per observation)."""
        self._written = True
        counts, self._counts = self._counts, {}
        latencies, self._latencies = self._latencies, {}
        holds, self._holds = self._holds, {}
        for key, n in counts.items():
            counter = self._counters.get(key)
            if counter is None:
                route_name, status = key
                counter = self._counters[key] = self.requests.labels(
                    _operation(route_name), str(status)
                )
            counter.inc(n)
        for tallies, histogram, children in (
            (latencies, self.latency, self._timers),
            (holds, self.hold, self._holders),
        ):
            for route_name, tally in tallies.items():
                child = children.get(route_name)
                if child is None:
                    child = children[route_name] = histogram.labels(_operation(route_name))
                child._sum.inc(tally[0])
                for bucket, observed in zip(child._buckets, tally[1:], strict=True):
                    if observed:
                        bucket.inc(observed)

    def sample(self, pool_in_use: int, pool_waiting: int, hash_queue: int) -> None:
        """The gauges: this worker's pool (connections handed out, requests waiting) and its
        password work admitted."""
        self.pool_in_use.set(pool_in_use)
        self.pool_waiting.set(pool_waiting)
        self.hash_queue.set(hash_queue)

    def exposition(self) -> bytes:
        self.write()
        return self.text()

    def text(self) -> bytes:
        """Every worker's values as Prometheus text, as last written (safe in another thread:
        prometheus-client locks each value)."""
        directory = os.environ.get(MULTIPROC_ENV)
        if not directory:
            return generate_latest(self.registry)
        everyone = CollectorRegistry()
        multiprocess.MultiProcessCollector(everyone, path=directory)
        return generate_latest(everyone)


def _tally(tallies: dict[str | None, list[float]], route_name: str | None, seconds: float) -> None:
    """One observation into a turn's tally: the sum, then a count per bucket and +Inf."""
    tally = tallies.get(route_name)
    if tally is None:
        tally = tallies[route_name] = [0.0] * (len(LATENCY_BUCKETS) + 2)
    tally[0] += seconds
    tally[1 + bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1  # le: seconds <= bound


def _operation(route_name: str | None) -> str:
    return route_name.rpartition(".")[2] if route_name else UNMATCHED


def worker_stopped() -> None:
    """This worker's live gauges leave the sums."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())
