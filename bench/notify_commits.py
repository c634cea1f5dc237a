"""What NOTIFY costs writers of different rows: 32 connections, each inserting rows of its own
one transaction at a time, with and without a `pg_notify` in each transaction, the two
alternating round by round, on a database of its own on the embedded server (or DATABASE_URL's).

    .venv/bin/python -m bench.notify_commits [seconds per run] [rounds]

PostgreSQL (up to 17 at least) takes one lock for the whole database when a transaction that
notified commits (PreCommit_Notify), and releases it after the commit's WAL flush: transactions
that notify commit one at a time, each with a flush of its own, where writers of different rows
share their flushes. Every write of the service notifies (the commit stamp's `pg_notify` on
`todo_events`, SPEC §7: LISTEN/NOTIFY is its only broker), so writes of different accounts
serialize at their commits too.
"""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg

from bench.create_growth import server_uri
from server.db.embedded import create_database, with_database

CONNECTIONS = 32
DATABASE = "todo_bench_notify"


async def writer(dsn: str, key: int, notify: bool, until: float) -> int:
    conn = await asyncpg.connect(dsn)
    done = 0
    try:
        while time.monotonic() < until:
            async with conn.transaction():
                await conn.execute("INSERT INTO notify_rows (writer) VALUES ($1)", key)
                if notify:
                    await conn.execute("SELECT pg_notify('bench_notify', $1)", str(key))
            done += 1
    finally:
        await conn.close()
    return done


async def main(seconds: float, rounds: int) -> None:
    uri = server_uri()
    create_database(uri, DATABASE, fresh=True)
    dsn = with_database(uri, DATABASE)
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE notify_rows (id bigserial PRIMARY KEY, writer int NOT NULL)")
    sync = await conn.fetchval("SHOW synchronous_commit")
    await conn.close()
    print(f"{CONNECTIONS} connections, synchronous_commit={sync}, {seconds:g} s per run")
    print("| round | commits/s without NOTIFY | with NOTIFY | with / without |")
    print("|---|---|---|---|")
    for number in range(1, rounds + 1):
        rates = {}
        for notify in (False, True) if number % 2 else (True, False):
            until = time.monotonic() + seconds
            counts = await asyncio.gather(
                *(writer(dsn, key, notify, until) for key in range(CONNECTIONS))
            )
            rates[notify] = sum(counts) / seconds
        print(
            f"| {number} | {rates[False]:,.0f} | {rates[True]:,.0f} "
            f"| {rates[True] / rates[False]:.2f} |"
        )


if __name__ == "__main__":
    asyncio.run(
        main(
            float(sys.argv[1]) if len(sys.argv) > 1 else 5,
            int(sys.argv[2]) if len(sys.argv) > 2 else 4,
        )
    )
