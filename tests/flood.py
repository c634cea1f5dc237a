"""A hostile client in a process of its own (so it shares no interpreter with the test that
measures its victim): `python -m tests.flood URL EMAIL SECONDS` sends signups repeating EMAIL,
64 at a time, as fast as it is answered; prints `full` on a line of its own at the first 503 (the
hashing queue is full: the flood is at its height), and at the end the statuses and Retry-After
values as JSON."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter

import httpx
import orjson

CONCURRENCY = 64


async def flood(url: str, email: str, seconds: float) -> dict[str, object]:
    statuses: Counter[int] = Counter()
    retry_after: set[str] = set()
    body = {"email": email, "password": "correct horse battery", "name": "again"}
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one() -> None:
            while time.monotonic() < deadline:
                response = await client.post("/api/auth/signup", json=body)
                statuses[response.status_code] += 1
                if response.status_code == 503:
                    if not retry_after:
                        sys.stdout.write("full\n")
                        sys.stdout.flush()
                    retry_after.add(response.headers["Retry-After"])

        await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
    return {
        "statuses": {str(k): v for k, v in statuses.items()},
        "retry_after": sorted(retry_after),
    }


if __name__ == "__main__":
    url, email, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sys.stdout.write(orjson.dumps(asyncio.run(flood(url, email, seconds))).decode())
