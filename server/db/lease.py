"""The leased-row election: of every worker of every instance running a loop, only the one
holding the loop's lease row runs its rounds (exactly one per cluster), and if it stops, its
lease runs out and another worker takes over. The purger and the reminder scheduler run so."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable

log = logging.getLogger("todo_api")


async def run_leased(
    name: str,
    take: Callable[[str, int], Awaitable[bool | None]],
    release: Callable[[str], Awaitable[object]],
    interval: float,
    round_: Callable[[], Awaitable[None]],
) -> None:
    """Run `round_` every `interval` seconds while this worker holds the lease `take` renews
    (for twice the interval, so a holder that stops is replaced within that); give it back
    when cancelled."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    lease = max(2, round(2 * interval))
    try:
        while True:
            try:
                if await take(holder, lease):
                    await round_()
            except Exception as exc:
                log.warning("%s round failed: %s: %s", name, type(exc).__name__, exc)
            await asyncio.sleep(interval)
    finally:
        await asyncio.shield(_release(name, release, holder))


async def _release(name: str, release: Callable[[str], Awaitable[object]], holder: str) -> None:
    try:
        await release(holder)
    except Exception as exc:
        log.info("%s lease not released (it runs out by itself): %s", name, exc)
