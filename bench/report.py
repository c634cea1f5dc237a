"""The benchmark's markdown report: the full/off table, the targets of issue 6, and every run."""

from __future__ import annotations

import math
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from bench.load import Result
from bench.service import LogSummary
from bench.variants import Variants
from bench.workloads import GROWTH_SIZES, SHARED

MODES = ("full", "off")
PERCENTILES = ("p50_ms", "p99_ms")
BARE = "bare"  # bench/bare.py: the service's statements without its layers
PLAIN = "plain"  # bench/plain.py: the simplest SQL, none of the service's features
SERVERS = (*MODES, BARE, PLAIN)
RSS_GOALS = (150.0, 200.0)  # MB per worker: once started, and after the workloads (issue 29)


@dataclass
class Storm:
    idle_ms: float
    storm_ms: float
    idle_p99_ms: float
    storm_p99_ms: float
    probes: int
    logins: Result


@dataclass
class Report:
    header: list[str]
    order: list[str]  # workload names in the order they run
    runs: dict[tuple[str, str], list[Result]] = field(default_factory=lambda: defaultdict(list))
    workers: dict[int, list[Result]] = field(default_factory=lambda: defaultdict(list))
    storm: Storm | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    logs: list[tuple[str, LogSummary]] = field(default_factory=list)
    details: list[tuple[str, str, Result]] = field(default_factory=list)  # (run, workload, r)
    variants: list[Variants] = field(default_factory=list)
    elapsed_s: float = 0.0

    def add(self, label: str, workload: str, result: Result) -> None:
        self.details.append((label, workload, result))

    def server_errors(self) -> int:
        """5xx answers the load generator received (the log also counts requests cut off when wrk
        closes its connections at the end of a run, which nobody received)."""
        return sum(r.statuses.get("5xx", 0) for _, _, r in self.details)

    def render(self) -> str:
        out = ["# Benchmark results", "", *self.header, ""]
        out += self._matrix() + self._targets()
        out += [line for variants in self.variants for line in variants.render()]
        out += self._problems() + self._details()
        out += [
            f"Total time: {self.elapsed_s / 60:.1f} min; load average at the end: "
            f"{os.getloadavg()[0]:.2f}.",
            "",
        ]
        return "\n".join(out)

    def mean(self, workload: str, mode: str, attr: str) -> float:
        results = self.runs.get((workload, mode)) or []
        return statistics.fmean(getattr(r, attr) for r in results) if results else math.nan

    def ratio(self, workload: str, over: str = "off", of: str = "full") -> float:
        """The throughput of `of` (validation full, or the bare server: bare/plain is about
        where full/plain would be with layers that cost nothing, not a bound, as bare's harness
        has costs of its own) over that of `over` (off, or a reference server)."""
        return _div(self.mean(workload, of, "rps"), self.mean(workload, over, "rps"))

    def _matrix(self) -> list[str]:
        out = [
            "## Validation full vs off vs the reference servers (1 worker; mean of the rounds)",
            "",
            "| workload | full req/s | off req/s | bare req/s | plain req/s | full/off "
            "| full/bare | full/plain | bare/plain | full p50 ms | full p99 ms | plain p50 ms "
            "| plain p99 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name in self.order:
            if name in self.skipped:
                out.append(f"| {name} | skipped: {self.skipped[name]} ||||||||||||")
                continue
            m = self.mean
            cells = [f"{m(name, mode, 'rps'):,.0f}" for mode in SERVERS]
            cells += [f"{self.ratio(name, over):.2f}" for over in ("off", BARE, PLAIN)]
            cells.append(f"{self.ratio(name, PLAIN, of=BARE):.2f}")
            cells += [f"{m(name, mode, p):.2f}" for mode in ("full", PLAIN) for p in PERCENTILES]
            out.append(f"| {name} | " + " | ".join(cells).replace("nan", "—") + " |")
        out += [
            "",
            "bare: bench/bare.py, Sanic and asyncpg with the service's pool size and statements, "
            "and none of its layers (no token, validation, ETag, cursor, headers or log). "
            "plain: bench/plain.py, the simplest SQL on a table of its own holding the same "
            "tasks (no account check, validation, revision, quota, count, placement or "
            "reminder; its page counts its total). bare/plain: where the service's own "
            "statements put a server with none of its layers (an estimate, not a bound: bare's "
            "harness has costs of its own). — where it has no such workload.",
        ]
        return [*out, *self._growth(), ""]

    def _growth(self) -> list[str]:
        """Each growth operation for accounts of 100, 10,000 and 50,000 tasks."""
        rows = [
            (op, names)
            for op, names in GROWTH_SIZES.items()
            if any((n, "full") in self.runs for n in names)
        ]
        if not rows:
            return []
        out = [
            "",
            "### As an account grows (validation full; plain alongside)",
            "",
            "| operation | 100 tasks req/s | 10,000 | 50,000 | 50,000/100 "
            "| plain 100 | plain 50,000 | plain 50,000/100 |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for op, (small, middle, large) in rows:
            full = [self.mean(n, "full", "rps") for n in (small, middle, large)]
            plain = [self.mean(n, PLAIN, "rps") for n in (small, large)]
            cells = [f"{v:,.0f}" for v in full] + [f"{_div(full[2], full[0]):.2f}"]
            cells += [f"{v:,.0f}" for v in plain] + [f"{_div(plain[1], plain[0]):.2f}"]
            out.append(f"| {op} | " + " | ".join(cells).replace("nan", "—") + " |")
        return out

    def rss(self) -> tuple[float, float] | None:
        """The largest resident memory of a worker of the service: once started, and once
        the workloads were done (as it stopped)."""
        seen = [summary.rss_mb for _, summary in self.logs if summary.rss_mb]
        if not seen:
            return None
        return max(r[0] for r in seen), max(r[1] for r in seen)

    def _targets(self) -> list[str]:
        rows: list[tuple[str, str, str, bool | None]] = []
        measured = [n for n in self.order if n not in self.skipped and (n, "off") in self.runs]
        if measured:
            worst = min(measured, key=self.ratio)
            rows.append(
                (
                    "full/off throughput, every workload",
                    f"lowest {self.ratio(worst):.3f} ({worst})",
                    ">= 0.85",
                    self.ratio(worst) >= 0.85,
                )
            )
        for name in ("get", "list 20"):
            if (name, BARE) in self.runs:
                ratio = self.ratio(name, BARE)
                rows.append(
                    (f"full/bare throughput, {name}", f"{ratio:.2f}", ">= 0.70", ratio >= 0.7)
                )
        for name, goal in (
            ("list 20", 0.70),
            ("get", 0.85),
            ("create", 0.80),
            ("create 64 users", 0.80),
        ):
            if (name, PLAIN) in self.runs:
                ratio, estimate = self.ratio(name, PLAIN), self.ratio(name, PLAIN, of=BARE)
                measured_text = f"{ratio:.2f} (bare/plain {estimate:.2f})".replace("nan", "—")
                rows.append(
                    (f"full/plain throughput, {name}", measured_text, f">= {goal}", ratio >= goal)
                )
        for op in ("list 20", "open 20", "get", "create"):
            small, _, large = GROWTH_SIZES[op]
            if (small, "full") in self.runs and (large, "full") in self.runs:
                ratio = _div(self.mean(large, "full", "rps"), self.mean(small, "full", "rps"))
                rows.append(
                    (f"{op}, 50,000 tasks / 100 (full)", f"{ratio:.2f}", ">= 0.80", ratio >= 0.8)
                )
        for op, (owner, member) in SHARED.items():
            if (owner, "full") in self.runs and (member, "full") in self.runs:
                ratio = _div(self.mean(member, "full", "rps"), self.mean(owner, "full", "rps"))
                rows.append(
                    (
                        f"{op}, a shared list's member / its owner (full)",
                        f"{ratio:.2f}",
                        ">= 0.90",
                        ratio >= 0.9,
                    )
                )
        if rss := self.rss():
            whens = ("at start", "after the workloads")
            for when, mb, goal in zip(whens, rss, RSS_GOALS, strict=True):
                rows.append(
                    (
                        f"resident memory per worker, {when}",
                        f"{mb:.0f} MB",
                        f"<= {goal:.0f} MB",
                        mb <= goal,
                    )
                )
        if self.storm:
            ratio = _div(self.storm.storm_ms, self.storm.idle_ms)
            rows.append(
                (
                    "/health median, login storm / idle",
                    f"{ratio:.2f} ({self.storm.storm_ms:.2f} / {self.storm.idle_ms:.2f} ms)",
                    "<= 3",
                    ratio <= 3,
                )
            )
        if ("cursor 9000", "full") in self.runs and ("list 20", "full") in self.runs:
            deep, first = (
                self.mean("cursor 9000", "full", "p50_ms"),
                self.mean("list 20", "full", "p50_ms"),
            )
            first_rps = self.mean("list 20", "full", "rps")
            slower = _div(first_rps, self.mean("cursor 9000", "full", "rps"))
            rows.append(
                (
                    "cursor page at depth 9,000 / first page (p50, full)",
                    f"{_div(deep, first):.2f} (throughput {slower:.2f}x lower)",
                    "<= 1.5",
                    _div(deep, first) <= 1.5,
                )
            )
        if self.workers.get(1) and self.workers.get(2):
            one = statistics.fmean(r.rps for r in self.workers[1])
            two = statistics.fmean(r.rps for r in self.workers[2])
            rows.append(
                (
                    "2 workers / 1 worker, list 20 (full)",
                    f"{_div(two, one):.2f} ({two:,.0f} / {one:,.0f} req/s)",
                    ">= 1.5",
                    _div(two, one) >= 1.5,
                )
            )
        for name in ("get", "list 20"):
            for mode in MODES:
                if (name, mode) in self.runs:
                    p50, p99 = self.mean(name, mode, "p50_ms"), self.mean(name, mode, "p99_ms")
                    rows.append(
                        (
                            f"p99 / p50, {name} ({mode})",
                            f"{_div(p99, p50):.2f}",
                            "<= 3",
                            _div(p99, p50) <= 3,
                        )
                    )
        out = [
            "## Targets (issues 6, 13 and 29)",
            "",
            "| target | measured | goal | met |",
            "|---|---|---|---|",
        ]
        out += [f"| {t} | {m} | {g} | {'yes' if ok else 'NO'} |" for t, m, g, ok in rows]
        out += self._worker_ceiling()
        if self.storm:
            s = self.storm
            out += [
                "",
                f"Login storm: {s.logins.rps:.1f} logins/s (bcrypt cost 12, 32 connections, "
                f"p50 {s.logins.p50_ms:.0f} ms); /health p99 idle {s.idle_p99_ms:.2f} ms, "
                f"during the storm {s.storm_p99_ms:.2f} ms, over {s.probes} probes.",
            ]
        return [*out, ""]

    def _worker_ceiling(self) -> list[str]:
        """What the cores allow a second worker: at the same CPU per request, the cores of the
        machine over those busy with one worker (the service's and PostgreSQL's)."""
        cores = [r.extra["cores"] for r in self.workers.get(1, []) if r.extra.get("cores")]
        if not cores:
            return []
        service = statistics.fmean(c["service"] for c in cores)
        database = statistics.fmean(c["postgres"] for c in cores)
        machine = os.cpu_count() or 1
        return [
            "",
            f"With 1 worker on list 20 the service kept {service:.2f} cores busy and PostgreSQL "
            f"{database:.2f}, of {machine}: at the same CPU per request, the machine has room "
            f"for about {_div(machine, service + database):.2f}x that throughput, whatever the "
            "number of workers (wrk's own share is ~0.03 cores; CPU per request itself moves "
            "with the machine's other load).",
        ]

    def _problems(self) -> list[str]:
        out = ["## Errors", ""]
        bad = [
            (label, name, r)
            for label, name, r in self.details
            if r.failures or any(r.socket_errors.values())
        ]
        for label, name, r in bad:
            out.append(
                f"- {label}, {name}: {r.statuses} socket errors {r.socket_errors}; "
                f"first: `{r.sample[:300]}`"
            )
        explained = 0
        for label, summary in self.logs:
            logged = sum(summary.server_errors.values())
            if logged <= summary.cut_off_bound:
                explained += logged
            else:
                for line, count in summary.server_errors.most_common(10):
                    out.append(f"- server log ({label}): {count} x {line}")
            for message in summary.messages:
                out.append(f"- server log ({label}) error: {message}")
        if len(out) == 2:
            out.append("None: every answer wrk received was 2xx/3xx.")
        else:
            out.append("Each run's server log: .data/bench-logs/<run>.log (run as labelled here).")
        if explained:
            out += [
                "",
                f"The server log also shows {explained} 5xx that no client received: at most one "
                "per connection each time wrk stopped, i.e. requests cut off mid-flight, which "
                "the service logs as 500.",
            ]
        return [*out, ""]

    def _details(self) -> list[str]:
        out = [
            "## Every run",
            "",
            "| run | workload | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx "
            "| cores busy: service, PostgreSQL |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label, name, r in self.details:
            cores = r.extra.get("cores")
            busy = f"{cores['service']:.2f}, {cores['postgres']:.2f}" if cores else ""
            out.append(
                f"| {label} | {name} | {r.rps:,.1f} | {r.p50_ms:.2f} | {r.p90_ms:.2f} "
                f"| {r.p99_ms:.2f} | {r.max_ms:.1f} | {r.failures + r.statuses.get('3xx', 0)} "
                f"| {busy} |"
            )
        return [*out, ""]


def _div(a: float, b: float) -> float:
    return a / b if b else math.nan
