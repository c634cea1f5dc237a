"""When each personal access token was last used (issue 27), without a statement on the
request's path: each worker notes the tokens its requests found live, in memory, and one UPDATE
per interval writes them all (and a last one as the worker stops). `last_used_at` is therefore
up to an interval late, and a worker that dies without stopping loses its last interval's
notes: the time is a hint to its owner, never a check.

Bounded: at most `limit` tokens are noted per interval; a token first seen past that waits for
a later interval (a token in use is seen again)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from server.db.executor import Executor
from server.db.queries import Queries

log = logging.getLogger("todo_api")


class TokenUses:
    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.pending: dict[str, datetime] = {}  # token id -> last use seen

    def note(self, token_id: str) -> None:
        if token_id in self.pending or len(self.pending) < self.limit:
            self.pending[token_id] = datetime.now(UTC)

    async def flush(self, db: Executor, queries: Queries) -> None:
        """Writes what was noted (the notes are dropped if the write fails: hints only)."""
        if not self.pending:
            return
        pending, self.pending = self.pending, {}
        await queries.touch_access_tokens(db, ids=list(pending), used_at=list(pending.values()))

    async def run(self, db: Executor, queries: Queries, interval: float) -> None:
        """Flushes every `interval` seconds until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.flush(db, queries)
                except Exception as exc:  # the database away: the next round's notes win
                    log.warning("token uses not written: %s: %s", type(exc).__name__, exc)
        finally:
            try:
                await self.flush(db, queries)
            except Exception as exc:
                log.warning("token uses not written at stop: %s: %s", type(exc).__name__, exc)
