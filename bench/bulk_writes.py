"""Requests that write a whole account at once, timed against a real service: for each size N,
accounts seeded by SQL with N tasks in one list, under one parent, all-day or completed, then
the one request that writes them all (delete the list; complete, delete, restore the parent;
empty the trash; change the time zone; clear the completed), each answer's status and time,
and the change feed after them read to its end (`GET /changes` pages: the number of changes
and the time).

    .venv/bin/python -m bench.bulk_writes '{"before": {"PYTHONPATH": "/tmp/old"}, "after": {}}' \
        [sizes, default 6000,50000]

As bench/create_growth.py: each variant runs its own copy of the code (PYTHONPATH; `{}` is
this checkout) on a fresh database migrated by that copy. The service runs as `make run` does
(its statement timeout included: a request past it answers 503). The quota is lifted
(TASK_QUOTA) so that 50,000 tasks are not a full account."""

from __future__ import annotations

import json
import secrets
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.create_growth import server_uri, variant_database
from bench.service import TOKEN_TTL, Service
from server.access.tokens import issue_access_token
from server.config import Settings

SIZES = (6_000, 50_000)
CHUNK = 500  # seeded tasks per transaction: a few of them whatever the stamp's cost per row
QUOTA = "1000000"

SEED = """
INSERT INTO tasks (user_id, list_id, parent_id, title, is_completed, completed_at, due_on)
SELECT %(user_id)s, %(list_id)s, %(parent_id)s, 'Bulk ' || i, %(done)s,
       CASE WHEN %(done)s THEN now() END, %(due_on)s
  FROM generate_series(1, %(count)s) AS i
"""


class Account:
    def __init__(self, conn: psycopg.Connection[Any], secret: str) -> None:
        email = f"bulk-{secrets.token_hex(4)}@bench.example.com"
        row = conn.execute(
            "INSERT INTO users (email, name, password_hash) VALUES (%s, 'B', 'x') RETURNING id",
            (email,),
        ).fetchone()
        assert row is not None
        self.id, session = str(row[0]), str(uuid.uuid4())
        conn.execute(
            "INSERT INTO login_families (id, user_id, expires_at)"
            " VALUES (%s, %s, now() + interval '90 days')",
            (session, self.id),
        )
        settings = Settings(jwt_secret=secret, access_token_ttl=TOKEN_TTL)
        self.token = issue_access_token(settings, self.id, session)
        self.conn = conn

    def list(self, inbox: bool = False) -> str:
        if inbox:
            sql = "SELECT id FROM lists WHERE user_id = %s AND is_inbox"
        else:
            sql = "INSERT INTO lists (user_id, name) VALUES (%s, 'Bulk') RETURNING id"
        row = self.conn.execute(sql, (self.id,)).fetchone()
        assert row is not None
        return str(row[0])

    def tasks(self, count: int, list_id: str, **fields: Any) -> None:
        """count tasks, CHUNK per transaction (autocommit: each statement its own)."""
        values = {"parent_id": None, "done": False, "due_on": None, **fields}
        for start in range(0, count, CHUNK):
            self.conn.execute(
                SEED,
                {"user_id": self.id, "list_id": list_id, "count": min(CHUNK, count - start)}
                | values,
            )

    def parent(self, list_id: str) -> str:
        row = self.conn.execute(
            "INSERT INTO tasks (user_id, list_id, title) VALUES (%s, %s, 'Parent') RETURNING id",
            (self.id, list_id),
        ).fetchone()
        assert row is not None
        return str(row[0])


def timed(
    service: Service, account: Account, label: str, method: str, path: str, body: Any = None
) -> tuple[str, int, float]:
    started = time.perf_counter()
    if not path.startswith("/api/"):
        path = f"/api/{account.id}{path}"
    status, _ = service.call(method, path, account.token, body)
    return label, status, time.perf_counter() - started


def read_feed(service: Service, account: Account, since: str) -> tuple[str, int, float]:
    """The change feed after `since`, to its end: (label, changes read, seconds)."""
    started, count = time.perf_counter(), 0
    while True:
        status, page = service.call(
            "GET", f"/api/{account.id}/changes?limit=1000&since={since}", account.token
        )
        if status != 200:
            return f"feed ({status})", count, time.perf_counter() - started
        count += len(page["changes"])
        since = page["next_since"]
        if not page["has_more"]:
            return "feed after them", count, time.perf_counter() - started


def since_now(service: Service, account: Account) -> str:
    """A since token for the account's present: the end of a full sync."""
    token = ""
    while True:
        query = f"?limit=1000&since={token}" if token else "?limit=1000"
        status, page = service.call("GET", f"/api/{account.id}/changes{query}", account.token)
        assert status == 200, (status, page)
        token = page["next_since"]
        if not page["has_more"]:
            return str(token)


def run(service: Service, dsn: str, secret: str, size: int) -> list[tuple[str, int, float]]:
    results = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        a = Account(conn, secret)
        listed = a.list()
        a.tasks(size, listed)
        since = since_now(service, a)
        results.append(timed(service, a, "delete list", "DELETE", f"/lists/{listed}"))
        results.append(read_feed(service, a, since))

        b = Account(conn, secret)
        inbox = b.list(inbox=True)
        parent = b.parent(inbox)
        b.tasks(size, inbox, parent_id=parent)
        since = since_now(service, b)
        done = {"is_completed": True}
        results.append(
            timed(service, b, "complete parent", "PATCH", f"/tasks/{parent}/complete", done)
        )
        results.append(timed(service, b, "delete parent", "DELETE", f"/tasks/{parent}"))
        results.append(timed(service, b, "restore parent", "POST", f"/trash/{parent}/restore"))
        results.append(timed(service, b, "delete it again", "DELETE", f"/tasks/{parent}"))
        results.append(timed(service, b, "empty the trash", "DELETE", "/trash"))
        results.append(read_feed(service, b, since))

        c = Account(conn, secret)
        inbox = c.list(inbox=True)
        c.tasks(size, inbox, due_on="2031-01-01")
        since = since_now(service, c)
        results.append(
            timed(service, c, "time zone (all-day)", "PATCH", "/api/me", {"timezone": "Asia/Tokyo"})
        )
        results.append(read_feed(service, c, since))

        d = Account(conn, secret)
        inbox = d.list(inbox=True)
        d.tasks(size, inbox, done=True)
        since = since_now(service, d)
        results.append(timed(service, d, "clear completed", "POST", "/tasks/clear-completed", {}))
        results.append(read_feed(service, d, since))
    return results


def main(argv: list[str]) -> None:
    variants: dict[str, dict[str, str]] = json.loads(argv[0])
    sizes = [int(s) for s in argv[1].split(",")] if len(argv) > 1 else list(SIZES)
    secret, base = secrets.token_hex(), server_uri()
    for label, env in variants.items():
        dsn = variant_database(base, f"bulk_{label}", env)
        service = Service(
            dsn, secret, Path(f".data/bulk-{label}.log"), env={"TASK_QUOTA": QUOTA, **env}
        )
        service.start("full")
        try:
            for size in sizes:
                for name, value, seconds in run(service, dsn, secret, size):
                    print(
                        f"{label:<8} N={size:<6} {name:<20} {value:>6} {seconds:6.2f} s", flush=True
                    )
        finally:
            service.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
