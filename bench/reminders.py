"""The reminder scheduler, measured (issue 16): how late reminders reach channel todo_events, and
what the scheduler costs the database per minute when nothing is due.

    .venv/bin/python -m bench.reminders [count]

Starts `todo-api serve` (one worker, default settings) on the bench database, creates `count`
(100) tasks whose reminders fall due over the next minute, LISTENs, and reports each reminder's
delay (arrival minus fire_at). Then, with 10,000 tasks of which 1,000 remind in a month, it counts
the database's transactions over an idle minute and times the scheduler's statement.
"""

from __future__ import annotations

import json
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from bench.database import open_database
from bench.service import Service

STATEMENT = Path("sql/reminders.sql").read_text().split("-- name: fire_reminders")[1]
FIRE = (  # its text after the name line (comments and all), with the scheduler's values
    STATEMENT.split("\n", 1)[1]
    .split("-- name:")[0]
    .replace(":late_seconds", "3600")
    .replace(":batch", "1000")
)


def main(count: int) -> None:
    dsn = open_database()
    service = Service(dsn, secrets.token_urlsafe(48), Path(".data/bench/reminders.log"))
    service.start("full")
    try:
        user_id, headers = _account(service.url)
        _delays(service.url, dsn, user_id, headers, count)
        _idle_cost(dsn, user_id)
    finally:
        service.stop()


def _account(url: str) -> tuple[str, dict[str, str]]:
    body = {"email": f"rem-{secrets.token_hex(4)}@example.org", "password": "x" * 12, "name": "R"}
    httpx.post(f"{url}/api/auth/signup", json=body).raise_for_status()
    login = httpx.post(
        f"{url}/api/auth/login", json={"email": body["email"], "password": body["password"]}
    )
    pair = login.json()
    return pair["user"]["id"], {"Authorization": f"Bearer {pair['access_token']}"}


def _delays(url: str, dsn: str, user_id: str, headers: dict[str, str], count: int) -> None:
    start = datetime.now(UTC) + timedelta(seconds=10)
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        httpx.Client(base_url=url, headers=headers) as http,
    ):
        conn.execute("LISTEN todo_events")
        for n in range(count):
            at = start + timedelta(seconds=60 * n / count)
            body = {"title": f"r{n}", "reminders": [{"at": at.isoformat()}]}
            http.post(f"/api/{user_id}/tasks", json=body).raise_for_status()
        delays: list[float] = []
        deadline = time.monotonic() + 120
        while len(delays) < count and time.monotonic() < deadline:
            for note in conn.notifies(timeout=1, stop_after=1):
                payload = json.loads(note.payload)
                if payload.get("user_id") == user_id and payload.get("kind") == "reminder":
                    fire_at = datetime.fromisoformat(payload["reminder"]["fire_at"])
                    delays.append((datetime.now(UTC) - fire_at).total_seconds())
    print(f"reminders fired: {len(delays)} of {count}")
    print(
        f"delay median {statistics.median(delays):.2f} s, max {max(delays):.2f} s, "
        f"min {min(delays):.2f} s"
    )


def _idle_cost(dsn: str, user_id: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM tasks WHERE user_id = %s", (user_id,))
        conn.execute(
            "INSERT INTO tasks (user_id, list_id, title, reminders)"
            " SELECT %(u)s, (SELECT id FROM lists WHERE user_id = %(u)s AND is_inbox), 't' || n,"
            " CASE WHEN n %% 10 = 0 THEN jsonb_build_array(jsonb_build_object('at',"
            " now() + interval '30 days')) ELSE '[]' END FROM generate_series(1, 10000) AS n",
            {"u": user_id},
        )
        conn.execute("ANALYZE tasks")

        def commits() -> int:
            row = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
            conn.execute("SELECT pg_stat_clear_snapshot()")
            assert row is not None
            return int(row[0])

        before = commits()
        time.sleep(60)
        idle = commits() - before - 1  # the reading itself
        timings = []
        for _ in range(20):
            plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + FIRE).fetchone()
            assert plan is not None
            timings.append(plan[0][0]["Execution Time"])
    print(
        f"idle minute: {idle} transactions on the database (the lease and fire_reminders, "
        f"each round)"
    )
    print(
        f"fire_reminders with 10,000 tasks, 1,000 reminding later: median "
        f"{statistics.median(timings):.2f} ms, max {max(timings):.2f} ms"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
