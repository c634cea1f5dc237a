"""CPU per request of variants of the service side by side: how the A/B figures of
bench/README's Profile section are taken.

    .venv/bin/python -m bench.ab '{"main": {}, "change": {"PYTHONPATH": "/tmp/change"}}' get

Each variant is `todo-api serve` with an environment of its own: PYTHONPATH names a copy of
the code to run instead of this checkout's (its server/ with openapi.yaml, sql/ and
migrations/ beside it), OPENAPI_VALIDATION=off a mode; the labels `bare` and `plain` are the
reference servers bench/bare.py and bench/plain.py. All are up at once. Every round runs each
workload (comma-separated names of the report, `get` by default) on each variant in turn, in
reverse order every other round, and reads from /proc the CPU the variant's processes and
PostgreSQL's spent, as `make bench` runs a workload (its BENCH_ROUNDS, BENCH_SECONDS and
BENCH_WARMUP set the length). Prints each run, then per workload and variant the mean
requests/s and the median µs of CPU per request of the variant and of PostgreSQL.
"""

from __future__ import annotations

import json
import secrets
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from bench import database
from bench.run import Bench, Knobs
from bench.service import BareService, PlainService, Service
from bench.workloads import BY_NAME

# The reference servers, by label; `plain+signal` is the plain server with PLAIN_SIGNAL=1.
SERVICES = {"bare": BareService, "plain": PlainService, "plain+signal": PlainService}


def main(argv: list[str]) -> None:
    variants: dict[str, dict[str, str]] = json.loads(argv[0])
    workloads = [BY_NAME[name] for name in (argv[1] if len(argv) > 1 else "get").split(",")]
    knobs = Knobs.from_env()
    dsn, run_id, secret = database.open_database(), f"ab{secrets.token_hex(3)}", secrets.token_hex()
    bench = Bench(knobs, dsn, database.seed(dsn, run_id), secret)
    runs: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
    try:
        for number in range(knobs.rounds):
            services = {}
            for label, env in variants.items():
                kind = SERVICES.get(label, Service)
                services[label] = kind(dsn, secret, Path(f".data/ab-{label}.log"), env=env)
                services[label].start("full")  # the variant's environment may say otherwise
            try:
                order = list(services) if number % 2 == 0 else list(services)[::-1]
                for workload in workloads:
                    for label in order:
                        result = bench.load(services[label], workload, label)
                        cores = result.extra["cores"]
                        runs[workload.name, label].append(
                            (
                                result.rps,
                                cores["service"] / result.rps * 1e6,
                                cores["postgres"] / result.rps * 1e6,
                            )
                        )
            finally:
                for service in services.values():
                    service.stop()
    finally:
        database.cleanup(dsn, run_id)
    print()
    for (name, label), measured in runs.items():
        rps = statistics.fmean(r for r, _, _ in measured)
        worker = statistics.median(m for _, m, _ in measured)
        postgres = statistics.median(m for _, _, m in measured)
        print(
            f"{name:14} {label:12} {rps:8,.0f} req/s {worker:7.1f} µs CPU/request (median),"
            f" PostgreSQL {postgres:7.1f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
