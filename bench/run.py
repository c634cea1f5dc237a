"""`make bench`: the load benchmark of issue 6 (bench/README.md says what it measures).

    .venv/bin/python -m bench.run      # knobs: BENCH_SECONDS, BENCH_ROUNDS, BENCH_ONLY, ...

Starts its own PostgreSQL (or uses DATABASE_URL), seeds it, then starts `todo-api serve` as a real
process for each run and drives it with wrk. Prints a markdown report and writes it to
.data/bench-results.md. Exits 1 when the service answered 5xx (a bug to report), else 0.
"""

from __future__ import annotations

import os
import platform
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import cpu, database
from bench.components import PgBouncer, install_packages
from bench.database import Seeded
from bench.load import HealthProbe, Result, probe_health, wrk, wrk_missing
from bench.report import BARE, MODES, PLAIN, Report, Storm
from bench.service import BareService, PlainService, Service
from bench.variants import WORKLOADS as VARIANT_WORKLOADS
from bench.variants import Variants
from bench.workloads import BY_NAME, STORM, WORKLOADS, Fixtures, Workload

RESULTS = Path(".data/bench-results.md")
SERVER_LOGS = Path(".data/bench-logs")  # one per service start: <label>.log
STORM_SECONDS = 10  # at least: 32 cost-12 logins queue for seconds before the first answers


@dataclass(frozen=True)
class Knobs:
    seconds: float
    warmup: float
    rounds: int
    connections: int
    threads: int
    only: frozenset[str]  # workload names, "storm", "workers"; empty means everything

    @classmethod
    def from_env(cls) -> Knobs:
        env = os.environ
        only = {w.strip() for w in env.get("BENCH_ONLY", "").split(",") if w.strip()}
        return cls(
            seconds=float(env.get("BENCH_SECONDS") or 10),
            warmup=float(env.get("BENCH_WARMUP") or 2),
            rounds=int(env.get("BENCH_ROUNDS") or 2),
            connections=int(env.get("BENCH_CONNECTIONS") or 32),
            threads=int(env.get("BENCH_THREADS") or 1),
            only=frozenset(only),
        )

    def wants(self, name: str) -> bool:
        return not self.only or name in self.only


class Bench:
    """Runs the three parts against services it starts and stops, filling in a Report."""

    def __init__(self, knobs: Knobs, dsn: str, seeded: Seeded, secret: str) -> None:
        self.knobs, self.dsn, self.seeded, self.secret = knobs, dsn, seeded, secret
        self.services = {mode: Service(dsn, secret, SERVER_LOGS / "none.log") for mode in MODES}
        self.services[BARE] = BareService(dsn, secret, SERVER_LOGS / "none.log")
        self.services[PLAIN] = PlainService(dsn, secret, SERVER_LOGS / "none.log")
        self.service = self.services["full"]  # the storm's and the workers' runs
        self.fixtures = Fixtures(seeded, secret)
        self.workloads = [w for w in WORKLOADS if knobs.wants(w.name)]
        self.report = Report(header=[], order=[w.name for w in self.workloads])

    def load(self, service: Service, workload: Workload, label: str) -> Result:
        """Warm up, then one measured wrk run of the workload."""
        env, k = self.fixtures.env(workload), self.knobs
        if k.warmup > 0:
            self.drive(service, workload.script, env, k.warmup)
        assert service.process is not None
        pid, start = service.process.pid, time.monotonic()
        before = cpu.sample(pid)
        result = self.drive(service, workload.script, env, k.seconds)
        result.extra["cores"] = cpu.busy(before, cpu.sample(pid), time.monotonic() - start)
        self.report.add(label, workload.name, result)
        if workload.creates:
            database.remove_created_tasks(self.dsn, self.seeded)
        print(
            f"  {label:<16} {workload.name:<12} {result.rps:>9,.0f} req/s  "
            f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms"
            + (f"  non-2xx {result.statuses}" if result.failures else ""),
            flush=True,
        )
        return result

    def drive(
        self,
        service: Service,
        script: str,
        env: dict[str, str],
        seconds: float,
        connections: int = 0,
    ) -> Result:
        connections = connections or self.knobs.connections
        service.cut_off += connections
        return wrk(service.url, script, env, seconds, connections, self.knobs.threads)

    def start(self, service: Service, label: str, validation: str, workers: int = 1) -> None:
        service.log_path = SERVER_LOGS / f"{label.replace(' ', '-')}.log"
        service.start(validation, workers)

    def stop(self, service: Service, label: str) -> None:
        self.report.logs.append((label, service.stop()))

    # -- the three parts ----------------------------------------------------------------------
    def matrix(self) -> None:
        """Every workload, validation full, then off, then on the reference servers (A B C D
        D C B A ...): they run side by side, and each workload is measured on one, then at
        once on the next, so that all meet the same moment of a shared, noisy machine."""
        wanted = {mode for w in self.workloads for mode in w.modes}
        kinds = [mode for mode in (*MODES, BARE, PLAIN) if mode in wanted]
        for round_no in range(1, self.knobs.rounds + 1):
            started = []
            try:
                for mode in kinds:
                    self.start(self.services[mode], f"r{round_no} {mode}", mode)
                    started.append(mode)
                # Even rounds take the modes in the reverse order, so that whatever the last
                # workload left behind (autovacuum after its deletes, say) meets each of them.
                order = kinds if round_no % 2 else kinds[::-1]
                for workload in self.workloads:
                    for mode in (m for m in order if m in workload.modes):
                        service, label = self.services[mode], f"r{round_no} {mode}"
                        first = round_no == 1 and mode == "full"
                        if self.runnable(service, workload, first):
                            result = self.load(service, workload, label)
                            self.report.runs[(workload.name, mode)].append(result)
            finally:
                for mode in started:
                    self.stop(self.services[mode], f"r{round_no} {mode}")

    def runnable(self, service: Service, workload: Workload, first: bool) -> bool:
        """On the first run, walk the deep cursor and probe each workload; skip what can't run."""
        if first:
            problem = None
            if workload.name == "cursor 9000" and not self.fixtures.walk_cursor(service):
                problem = "the listing gives no cursor to walk to depth 9,000"
            problem = problem or self.fixtures.probe(service, workload)
            if problem:
                self.report.skipped[workload.name] = problem
                print(f"  skipped {workload.name}: {problem}", flush=True)
        return workload.name not in self.report.skipped

    def variants(self, variants: Variants, services: dict[str, Service]) -> None:
        """Every variant's service up at once; each workload on one, then at once on the next."""
        self.report.variants.append(variants)
        for round_no in range(1, self.knobs.rounds + 1):
            started = []
            try:
                for label, service in services.items():
                    self.start(service, f"r{round_no} {label}", "full")
                    started.append(label)
                for name in VARIANT_WORKLOADS:
                    for label, service in services.items():
                        result = self.load(service, BY_NAME[name], f"r{round_no} {label}")
                        variants.runs[(name, label)].append(result)
            finally:
                for label in started:
                    self.stop(services[label], f"r{round_no} {label}")

    def pgbouncer(self) -> None:
        """PgBouncer mode through PgBouncer (transaction pooling) against a direct connection."""
        variants = Variants(
            "PgBouncer mode against a direct connection (1 worker, validation full)",
            "`DATABASE_PGBOUNCER=true` through PgBouncer 1.18 in transaction mode (unnamed "
            "statements: every statement parsed and planned again) against the default: "
            "asyncpg's prepared-statement cache on a direct connection.",
            ["direct", "pgbouncer"],
        )
        if problem := install_packages():
            variants.skipped = problem
            self.report.variants.append(variants)
            return
        bouncer = PgBouncer(Path(".data/bench-pgbouncer").resolve(), self.dsn)
        bouncer.start()
        try:
            services = {
                "direct": Service(self.dsn, self.secret, SERVER_LOGS / "none.log"),
                "pgbouncer": Service(
                    bouncer.dsn,
                    self.secret,
                    SERVER_LOGS / "none.log",
                    env={"DATABASE_PGBOUNCER": "true"},
                ),
            }
            self.variants(variants, services)
        finally:
            bouncer.stop()

    def metrics(self) -> None:
        """The cost of counting every request: METRICS_ENABLED on (the default) against off."""
        variants = Variants(
            "Metrics on against off (1 worker, validation full)",
            "`METRICS_ENABLED=true` (the default: every request counted and timed into "
            "prometheus-client's multiprocess files) against `false`.",
            ["off", "on"],
        )
        self.variants(
            variants,
            {
                label: Service(
                    self.dsn, self.secret, SERVER_LOGS / "none.log", env={"METRICS_ENABLED": flag}
                )
                for label, flag in (("off", "false"), ("on", "true"))
            },
        )

    def storm(self) -> None:
        """32 concurrent logins at bcrypt cost 12, while a light client times GET /health."""
        self.start(self.service, "storm", "full")
        try:
            if problem := self.fixtures.probe(self.service, STORM):
                self.report.skipped["login storm"] = problem
                return
            probe_health(self.service.port, 1)  # warm the connection path
            idle = probe_health(self.service.port, max(3.0, self.knobs.seconds / 2))
            during = HealthProbe(self.service.port)
            during.start()
            k = self.knobs
            seconds = max(k.seconds, STORM_SECONDS)
            env = self.fixtures.env(STORM)
            logins = self.drive(self.service, STORM.script, env, seconds, connections=32)
            during.finish()
            self.report.add("storm", STORM.name, logins)
            self.report.storm = Storm(
                idle_ms=idle.median_ms(),
                storm_ms=during.median_ms(),
                idle_p99_ms=idle.p99_ms(),
                storm_p99_ms=during.p99_ms(),
                probes=len(during.samples_ms),
                logins=logins,
            )
            print(
                f"  storm            {logins.rps:.1f} logins/s; /health median idle "
                f"{idle.median_ms():.2f} ms, during {during.median_ms():.2f} ms",
                flush=True,
            )
        finally:
            self.stop(self.service, "storm")

    def workers(self) -> None:
        """list 20 (validation full) with WORKERS=1 and WORKERS=2, alternately."""
        workload = BY_NAME["list 20"]
        for round_no in range(1, self.knobs.rounds + 1):
            for count in (1, 2):
                label = f"r{round_no} {count} worker{'s' if count > 1 else ''}"
                self.start(self.service, label, "full", workers=count)
                try:
                    if (
                        round_no == 1
                        and count == 1
                        and (problem := self.fixtures.probe(self.service, workload))
                    ):
                        self.report.skipped["workers"] = problem
                        return
                    self.report.workers[count].append(self.load(self.service, workload, label))
                finally:
                    self.stop(self.service, label)


def header(knobs: Knobs, started: datetime) -> list[str]:
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return [
        f"{started:%Y-%m-%d %H:%M} UTC, commit {commit}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores; load generator, service and "
        "PostgreSQL share the machine.",
        f"wrk -t{knobs.threads} -c{knobs.connections}, {knobs.seconds:g} s per run after "
        f"{knobs.warmup:g} s of warm-up, rounds: {knobs.rounds}; 1 worker unless said.",
        f"Load average before the run: {os.getloadavg()[0]:.2f} (other work on the machine "
        "skews every number; near 0 is what you want).",
    ]


def main() -> int:
    if message := wrk_missing():
        print(message, file=sys.stderr)
        return 2
    knobs = Knobs.from_env()
    started, clock = datetime.now(UTC), time.monotonic()
    run_id = f"bench{secrets.token_hex(3)}"
    print("bench: PostgreSQL, seeding users with 100 to 50,000 tasks ...", flush=True)
    dsn = database.open_database()
    seeded = database.seed(dsn, run_id)
    SERVER_LOGS.mkdir(parents=True, exist_ok=True)
    for old in SERVER_LOGS.glob("*.log"):  # the last run's, which would be mistaken for this one's
        old.unlink()
    bench = Bench(knobs, dsn, seeded, secrets.token_urlsafe(48))
    bench.report.header = header(knobs, started)
    try:
        print("bench: workloads, validation full, off, and the reference servers", flush=True)
        bench.matrix()
        parts = (
            ("storm", "login storm", bench.storm),
            ("workers", "1 and 2 workers on list 20", bench.workers),
            ("pgbouncer", "PgBouncer mode against a direct connection", bench.pgbouncer),
            ("metrics", "metrics on against off", bench.metrics),
        )
        for name, title, run in parts:
            if knobs.wants(name):
                print(f"bench: {title}", flush=True)
                run()
    finally:
        for service in bench.services.values():
            if service.process is not None:
                bench.stop(service, "interrupted")
        if os.environ.get("DATABASE_URL"):
            database.cleanup(dsn, run_id)
    bench.report.elapsed_s = time.monotonic() - clock
    text = bench.report.render()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print("\n" + text)
    print(f"bench: written to {RESULTS}")
    if errors := bench.report.server_errors():
        print(f"bench: the service answered 5xx {errors} time(s); see Errors", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
