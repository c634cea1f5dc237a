"""`make profile`: where the service's time goes under one workload of `make bench`.

    make profile                            # list 20
    BENCH_ONLY=get make profile             # any workload name of the benchmark's table
    .venv/bin/python -m bench.profile "list 50" --seconds 20
    .venv/bin/python -m bench.profile get --bare   # the bare reference server (bench/bare.py)

Seeds as `make bench` does, starts `todo-api serve` (1 worker, validation full), drives the
workload with wrk (32 connections) while py-spy samples the service's processes, and prints the
share of the samples each part of the request path appears in, and the packages and functions
the samples end in (C code, such as asyncpg's protocol or orjson, shows as the line calling it).
The raw stacks are kept in .data/bench-profile.txt (one collapsed stack per line).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench import database
from bench.load import wrk, wrk_missing
from bench.service import BareService, Service
from bench.workloads import BY_NAME, Fixtures

PY_SPY = Path(sys.executable).with_name("py-spy")  # installed by `make profile`
RAW = Path(".data/bench-profile.txt")
LOG = Path(".data/bench-profile-server.log")
# Parts of the request path, by a piece of the frame's file path; a sample counts for every
# part its stack passes through (a database call inside a handler counts for both).
PARTS = {
    "handlers (server/*/handlers.py, server/accounts/)": (
        "server/tasks/handlers.py",
        "server/system/handlers.py",
        "server/accounts/auth.py",
        "server/accounts/me.py",
    ),
    "database: asyncpg": ("asyncpg/",),
    "database: pool acquire and release (server/db/pool.py)": ("server/db/pool.py",),
    "contract validation (server/contract/fastpath.py)": ("server/contract/fastpath.py",),
    "openapi-core (the fallback)": ("openapi_core/",),
    "JWT (PyJWT)": ("jwt/",),
    "access log (server/observability/logs.py)": ("server/observability/logs.py",),
    "error rendering (server/errors.py)": ("server/errors.py",),
}


def record(seconds: int, pid: int) -> subprocess.Popen[bytes]:
    command = [str(PY_SPY), "record", "--pid", str(pid), "--subprocesses", "--format", "raw"]
    command += ["--rate", "200", "--duration", str(seconds), "--output", str(RAW)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603


def package(frame: str) -> str:
    """`f (asyncpg/connection.py:377)` -> asyncpg; our own modules by file: server/db/pool.py."""
    path = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    first, _, rest = path.partition("/")
    return f"{first}/{rest.partition('/')[0]}" if first == "server" and rest else first


def summarize(raw: Path, top: int = 15) -> str:
    parts: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for part, pieces in PARTS.items():
            if any(piece in frame for frame in frames for piece in pieces):
                parts[part] += count
        packages[package(frames[-1])] += count
        leaves[frames[-1]] += count
    if not total:
        return "no samples (is the service busy? does py-spy have permission to attach?)"
    lines = [f"{total:,} samples while wrk drove the service", ""]
    lines += ["| part of the request path (inclusive) | share |", "|---|---:|"]
    lines += [f"| {part} | {n / total:.1%} |" for part, n in parts.most_common()]
    lines += ["", "| package the samples end in (self time) | share |", "|---|---:|"]
    lines += [f"| {name} | {n / total:.1%} |" for name, n in packages.most_common(top)]
    lines += ["", "| function the samples end in (self time) | share |", "|---|---:|"]
    lines += [f"| `{frame}` | {n / total:.1%} |" for frame, n in leaves.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default=os.environ.get("BENCH_ONLY") or "list 20")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--bare", action="store_true", help="the bare reference server instead")
    args = parser.parse_args()
    if args.workload not in BY_NAME or args.workload == "cursor 9000":
        names = ", ".join(name for name in BY_NAME if name != "cursor 9000")
        print(f"profile: no workload {args.workload!r}; one of: {names}", file=sys.stderr)
        return 2
    if message := wrk_missing():
        print(message, file=sys.stderr)
        return 2
    if not PY_SPY.exists():
        print("profile: py-spy is missing; `make profile` installs it", file=sys.stderr)
        return 2
    workload = BY_NAME[args.workload]
    run_id = f"profile{secrets.token_hex(3)}"
    dsn = database.open_database()
    seeded = database.seed(dsn, run_id)
    secret = secrets.token_urlsafe(48)
    service = (BareService if args.bare else Service)(dsn, secret, LOG)
    fixtures = Fixtures(seeded, secret)
    service.start("full")
    try:
        if problem := fixtures.probe(service, workload):
            print(f"profile: {workload.name} cannot run: {problem}", file=sys.stderr)
            return 1
        env = fixtures.env(workload)
        wrk(service.url, workload.script, env, 2)  # warm up
        assert service.process is not None
        spy = record(args.seconds, service.process.pid)
        result = wrk(service.url, workload.script, env, args.seconds)
        spy.wait(timeout=60)
    finally:
        service.stop()
        if os.environ.get("DATABASE_URL"):
            database.cleanup(dsn, run_id)
    server = "the bare reference server" if args.bare else "1 worker, validation full"
    print(f"## Profile: {workload.name}, {server}, wrk -c32\n")
    print(f"{result.rps:,.0f} req/s while sampled (py-spy itself costs some)")
    print(summarize(RAW))
    print(f"\nprofile: raw stacks in {RAW}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
