"""Side by side: one setting's variants measured at the same moment of a shared machine.

`make bench` runs two: PgBouncer mode (DATABASE_PGBOUNCER, through a real PgBouncer in
transaction mode) against a direct connection, and METRICS_ENABLED on against off. Every
variant's service is up at once; each workload runs on one, then at once on the next.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from bench.load import Result

WORKLOADS = ("get", "list 20", "create")


@dataclass
class Variants:
    title: str
    note: str
    labels: list[str]  # the first is the baseline the others are divided by
    runs: dict[tuple[str, str], list[Result]] = field(default_factory=lambda: defaultdict(list))
    skipped: str = ""

    def mean(self, workload: str, label: str, attr: str) -> float:
        results = self.runs.get((workload, label)) or []
        return statistics.fmean(getattr(r, attr) for r in results) if results else math.nan

    def render(self) -> list[str]:
        out = [f"## {self.title}", "", self.note, ""]
        if self.skipped:
            return [*out, f"Skipped: {self.skipped}", ""]
        base, others = self.labels[0], self.labels[1:]
        out += [
            "| workload | "
            + " | ".join(f"{label} req/s" for label in self.labels)
            + " | "
            + " | ".join(f"{label}/{base}" for label in others)
            + " | "
            + " | ".join(f"{label} p50 ms" for label in self.labels)
            + " |",
            "|---|" + "---:|" * (2 * len(self.labels) + len(others)),
        ]
        for name in WORKLOADS:
            if not any((name, label) in self.runs for label in self.labels):
                continue
            rps = [self.mean(name, label, "rps") for label in self.labels]
            ratios = [r / rps[0] if rps[0] else math.nan for r in rps[1:]]
            p50 = [self.mean(name, label, "p50_ms") for label in self.labels]
            out.append(
                f"| {name} | "
                + " | ".join(f"{r:,.0f}" for r in rps)
                + " | "
                + " | ".join(f"{r:.2f}" for r in ratios)
                + " | "
                + " | ".join(f"{p:.2f}" for p in p50)
                + " |"
            )
        return [*out, ""]
