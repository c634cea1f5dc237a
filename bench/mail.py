"""Mail, measured (issue 25): the delay from a request to the mail's arrival at the SMTP server,
and the sender's throughput with a queue of 1,000.

    .venv/bin/python -m bench.mail [mails] [queued]

Starts `todo-api serve` (one worker, default OUTBOX_INTERVAL_SECONDS) on the bench database,
mailing a real SMTP server of this process on loopback (aiosmtpd, plain) that timestamps each
arrival. Delay: `mails` (200) password-reset requests for as many accounts, 10 a second, each
timed from its request's start to its mail's end of DATA at the server; median and p99. The
sender looks at the outbox every OUTBOX_INTERVAL_SECONDS (1 s): the delay is mostly that wait.
Throughput: `queued` (1,000) mails written to the outbox in one transaction while the service
runs; the time from its commit to the last arrival, and the rate from the first to the last.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from aiosmtpd.controller import Controller

from bench.database import open_database
from bench.service import Service, free_port

RATE = 10  # reset requests a second


class Arrivals:
    """aiosmtpd's handler: when each recipient's mail arrived (perf_counter)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.perf_counter()
        with self.lock:
            for to in envelope.rcpt_tos:
                self.at.setdefault(to.lower(), arrived)
        return "250 OK"

    def wait(self, addresses: list[str], within: float) -> None:
        deadline = time.monotonic() + within
        while not all(a in self.at for a in addresses):
            missing = sum(a not in self.at for a in addresses)
            assert time.monotonic() < deadline, f"{missing} of {len(addresses)} mails missing"
            time.sleep(0.01)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def reset_requests(url: str, addresses: list[str]) -> dict[str, float]:
    """One reset request per address, RATE a second: when each started."""
    started: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def one(address: str) -> None:
            started[address] = time.perf_counter()
            response = await http.post("/api/auth/password-reset", json={"email": address})
            assert response.status_code == 202, response.text

        sent = []
        for address in addresses:
            sent.append(asyncio.create_task(one(address)))
            await asyncio.sleep(1 / RATE)
        await asyncio.gather(*sent)
    return started


def main(mails: int, queued: int) -> None:
    dsn = open_database()
    run = f"mailbench-{secrets.token_hex(4)}"
    arrivals = Arrivals()
    smtp = Controller(arrivals, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = {
        "SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
        "RESET_LIMIT_PER_CLIENT": str(10**9),  # one address drives it: measured is the path
        "PUSH_ENABLED": "false",
    }
    service = Service(dsn, secrets.token_urlsafe(48), Path(".data/bench/mail.log"), env)
    with psycopg.connect(dsn, autocommit=True) as db:
        try:
            accounts = [f"{run}-{n}@example.org" for n in range(mails)]
            db.execute(
                "INSERT INTO users (email, name, password_hash)"
                " SELECT a, 'Bench', 'x' FROM unnest(%s::text[]) AS a",
                (accounts,),
            )
            service.start("full")
            started = asyncio.run(reset_requests(service.url, accounts))
            arrivals.wait(accounts, 120)
            delays = [arrivals.at[a] - started[a] for a in accounts]
            print(
                f"delay, request to SMTP receipt, {mails} resets at {RATE}/s: "
                f"median {statistics.median(delays) * 1000:.0f} ms, "
                f"p99 {percentile(delays, 0.99) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms"
            )

            notices = [f"{run}-queued-{n}@example.org" for n in range(queued)]
            db.execute(
                "INSERT INTO outbox (channel, payload)"
                " SELECT 'mail', jsonb_build_object('kind', 'email-change-notice', 'to', a,"
                "  'name', 'Bench', 'new_email', 'new@example.org')"
                " FROM unnest(%s::text[]) AS a",
                (notices,),
            )
            committed = time.perf_counter()
            arrivals.wait(notices, 600)
            times = sorted(arrivals.at[a] for a in notices)
            print(
                f"throughput, {queued} queued: all arrived {times[-1] - committed:.2f} s after "
                f"the commit; {(queued - 1) / (times[-1] - times[0]):.0f} mails/s first to last"
            )
        finally:
            summary = service.stop()
            smtp.stop()
            db.execute("DELETE FROM outbox WHERE payload->>'to' LIKE %s", (f"{run}-%",))
            db.execute("DELETE FROM users WHERE email LIKE %s", (f"{run}-%",))
    if summary.server_errors or summary.messages:
        print(f"service errors: {dict(summary.server_errors)} {summary.messages}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 200, int(args[1]) if len(args) > 1 else 1000)
