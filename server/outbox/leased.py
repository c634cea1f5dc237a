"""The life of an outbox worker that runs while it holds its channel's lease (the purger's
leased row, server/db/lease.py): the sender of a channel (sender.py) and the webhook
dispatcher (server/webhooks/dispatcher.py) start, hold and give up their lease alike, and
differ only in what a round does."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

from server.db.executor import Executor
from server.db.lease import run_leased
from server.db.queries import Queries


class LeasedWorker:
    """Runs `round` every `interval` seconds while this worker holds the lease `lease`; a round
    holds `_busy` and checks `_stopping`, so `stop` can let it finish."""

    def __init__(self, db: Executor, queries: Queries, lease: str, interval: float) -> None:
        self.db, self.queries, self.lease, self.interval = db, queries, lease, interval
        self.holder = ""
        self._stopping = asyncio.Event()
        self._busy = asyncio.Lock()  # held for a round: stop waits for it
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.lease)

    async def _run(self) -> None:
        async def take(holder: str, seconds: int) -> Any:
            self.holder = holder
            return await self.queries.take_outbox_lease(
                self.db, name=self.lease, holder=holder, lease_seconds=seconds
            )

        async def release(holder: str) -> Any:
            return await self.queries.release_outbox_lease(self.db, name=self.lease, holder=holder)

        await run_leased(self.lease, take, release, self.interval, self.round)

    async def stop(self, within: float) -> None:
        """Let the round in flight finish (for `within` seconds at most), then stop and give
        the lease up."""
        self._stopping.set()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._busy.acquire(), within)
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def round(self) -> None:
        raise NotImplementedError
