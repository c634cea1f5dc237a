"""The event-loop guard (server/observability/loop_guard.py) read from a running service, for any
test: no request may hold its worker's event loop past HOLD_BOUND (in one step, between two awaits).

The service measures every hold of its loop itself, names the operation whose code held it, and
publishes both in /metrics (a histogram by operation, and the worst hold so far), so a test
asserts on the service's own measurement, not on its wall clock. Three ways in:

- `check_holds(source)`: fails listing each operation whose requests held the loop past the bound
  since the service started (a LiveServer, its URL, or an in-process `Api`).
- `HoldCount(source)` then `.check()`: the same for the requests made in between (an in-process
  `Api` is shared by the whole session, so only what the test itself sent counts).
- the `loop_guard` fixture (tests/conftest.py): `HoldCount` around one test with the session's
  `api`: `def test_x(api, loop_guard): ...`.

`worst_holds(source)` answers the worst hold per operation, for a report.
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.live import LiveServer
from tests.support import Api

# Seconds: one of the bucket bounds of the histogram (server/observability/metrics.py),
# so the count of holds past it is exact. Far above what any request takes (a GET's longest step is
# well under a millisecond; the worst operation in the conformance run about 100 ms on a busy
# two-core machine) and far below the holds this guards against (seconds, or for ever).
HOLD_BOUND = 0.5
HOLD = "todo_event_loop_hold_seconds"
WORST = "todo_event_loop_hold_max_seconds"
Source = Api | LiveServer | str


def metrics_text(source: Source) -> str:
    if isinstance(source, Api):
        return source.get("/metrics").text
    url = source.url if isinstance(source, LiveServer) else source
    return httpx.get(f"{url}/metrics", timeout=30).text


def worst_holds(source: Source) -> dict[str, float]:
    """The longest hold of the event loop, in seconds, by the operation whose code held it
    (`-`: none did)."""
    return {
        sample.labels["operation"]: sample.value
        for family in text_string_to_metric_families(metrics_text(source))
        for sample in family.samples
        if sample.name == WORST
    }


def holds_over(text: str, bound: float = HOLD_BOUND) -> dict[str, int]:
    """How many holds of the loop were longer than `bound`, by operation (from /metrics text)."""
    counts: dict[str, float] = {}
    within: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            operation = sample.labels.get("operation", "")
            if sample.name == f"{HOLD}_count":
                counts[operation] = sample.value
            elif sample.name == f"{HOLD}_bucket" and float(sample.labels["le"]) == bound:
                within[operation] = sample.value
    assert not counts or within, f"{bound} s is not a bucket bound of {HOLD}"
    return {op: int(n - within.get(op, 0)) for op, n in counts.items() if n > within.get(op, 0)}


def check_holds(source: Source, bound: float = HOLD_BOUND) -> None:
    over = holds_over(metrics_text(source), bound)
    assert not over, _report(source, over, bound)


class HoldCount:
    """Holds past the bound counted now, to check that none were added by what follows."""

    def __init__(self, source: Source, bound: float = HOLD_BOUND) -> None:
        self.source, self.bound = source, bound
        self.before = holds_over(metrics_text(source), bound)

    def check(self) -> None:
        after = holds_over(metrics_text(self.source), self.bound)
        added = {op: n - self.before.get(op, 0) for op, n in after.items()}
        added = {op: n for op, n in added.items() if n > 0}
        assert not added, _report(self.source, added, self.bound)


def _report(source: Source, over: dict[str, int], bound: float) -> str:
    worst = worst_holds(source)
    held = ", ".join(f"{op}: {n} (worst {worst.get(op, 0):.3f} s)" for op, n in over.items())
    return f"requests held the event loop past {bound} s: {held}"
