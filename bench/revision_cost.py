"""The cost of the revision stamp (migration 0020's triggers) on a create and an update, in one
run on one database: blocks of single-statement transactions (as the service runs them) with
the triggers enabled and disabled, alternating, the same user and table throughout.

    .venv/bin/python -m bench.revision_cost postgresql://... [per block] [rounds] [nosync]

`nosync` sets synchronous_commit off for the run, so the commit's WAL flush (which dominates a
one-statement transaction on a busy disk) no longer hides the triggers' own work.

Disabling the triggers is for this measurement only (it needs the table's owner)."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import asyncpg

TRIGGERS = ("tasks_mark_changed", "tasks_stamp_revisions", "tasks_trash")
CREATE = (
    "INSERT INTO tasks (user_id, list_id, title) "
    "SELECT $1, id, $2 FROM lists WHERE user_id = $1 AND is_inbox RETURNING id"
)
UPDATE = (
    "UPDATE tasks SET title = $3, version = version + 1, updated_at = now() "
    "WHERE user_id = $1 AND id = $2 RETURNING version"
)


async def block(
    conn: asyncpg.Connection, user_id: str, ids: list[str], n: int
) -> tuple[float, float]:
    started = time.perf_counter()
    for i in range(n):
        ids.append(await conn.fetchval(CREATE, user_id, f"task {i}"))
    created = time.perf_counter()
    for i in range(n):
        await conn.fetchval(UPDATE, user_id, ids[-1 - i], f"edit {i}")
    updated = time.perf_counter()
    return (created - started) / n * 1000, (updated - created) / n * 1000


async def main(dsn: str, n: int, rounds: int, nosync: bool = False) -> None:
    conn = await asyncpg.connect(dsn)
    if nosync:
        await conn.execute("SET synchronous_commit = off")
    user_id = await conn.fetchval(
        "INSERT INTO users (email, name, password_hash) VALUES ($1, 'bench', 'x') RETURNING id",
        f"revision-cost-{time.time_ns()}@example.org",
    )
    user_id = str(user_id)
    ids: list[str] = []
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    try:
        for r in range(rounds):
            for enabled in (True, False) if r % 2 == 0 else (False, True):
                verb = "ENABLE" if enabled else "DISABLE"
                for name in TRIGGERS:
                    await conn.execute(f"ALTER TABLE tasks {verb} TRIGGER {name}")
                results[enabled].append(await block(conn, user_id, ids, n))
    finally:
        for name in TRIGGERS:
            await conn.execute(f"ALTER TABLE tasks ENABLE TRIGGER {name}")
        await conn.execute("DELETE FROM users WHERE id = $1", user_id)
        await conn.close()
    for enabled in (True, False):
        creates = [c for c, _u in results[enabled]]
        updates = [u for _c, u in results[enabled]]
        print(
            f"stamp {'on ' if enabled else 'off'}: create {statistics.mean(creates):.3f} ms, "
            f"update {statistics.mean(updates):.3f} ms (means of {rounds} blocks of {n}; "
            f"blocks: create {', '.join(f'{c:.2f}' for c in creates)}; "
            f"update {', '.join(f'{u:.2f}' for u in updates)})"
        )


if __name__ == "__main__":
    a = sys.argv[1:]
    n, rounds = int(a[1]) if len(a) > 1 else 1000, int(a[2]) if len(a) > 2 else 4
    asyncio.run(main(a[0], n, rounds, len(a) > 3 and a[3] == "nosync"))
