"""One sender per channel per cluster: the holder of the channel's lease (the purger's leased
row, `run_leased`) claims due rows of the outbox a batch at a time, hands each to its channel's
deliverer and records what came of it.

- Delivered: sent. Refused for good (`Undeliverable`: a mailbox that does not exist, a row that
  cannot be built): failed at once. Anything else (`Retry`, or an error of ours): due again
  after an exponential backoff (30 s doubling to an hour, with jitter), until the row is 24 h
  old; then failed. A far side that is down (`Retry(unreachable=True)`) also pauses the sender
  (1 s doubling to a minute) instead of failing every row of the batch in turn.
- A claim (claimed_until) keeps a second sender off rows being sent should two ever run at
  once (a lease that ran out mid-round); a crash leaves rows claimed until the claim runs out.
- A clean stop (`stop`) lets the row being sent finish and be recorded, gives the rest of its
  batch back and the lease up: nothing is sent twice. An unclean stop (a killed process, or a
  send still going when stop's time is up) can send the row in flight again once its claim
  runs out: delivery is at least once, under the same id (a mail's Message-ID), which receivers
  may use to drop the copy.

A channel is a name and a `Deliverer`. Webhook deliveries (issue 27) are outbox rows too, sent
by a dispatcher of their own (server/webhooks/dispatcher.py: in order per webhook).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter

from server.db.executor import Executor
from server.db.queries import Queries
from server.outbox.leased import LeasedWorker

log = logging.getLogger("todo_api")

GIVE_UP_SECONDS = 24 * 3600
BATCH = 50  # rows a claim takes
CLAIM_SECONDS = 600  # a claim outlives any batch a working far side takes (timeouts bound it)
FIRST_RETRY_SECONDS, LAST_RETRY_SECONDS = 30.0, 3600.0
LONGEST_PAUSE_SECONDS = 60.0


class Undeliverable(Exception):
    """The far side refused the row for good, or it cannot be built: failed, never retried."""


class Retry(Exception):
    """This attempt failed; try again later. `unreachable`: the far side itself is down."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.unreachable = unreachable


class Deliverer(Protocol):
    channel: str  # the outbox rows it delivers, and its lease: outbox:<channel>

    async def deliver(self, row_id: int, payload: Mapping[str, Any], created: datetime) -> None:
        """Deliver one row, or raise Undeliverable or Retry."""

    async def end_round(self) -> None:
        """The round is over: close what it opened (an SMTP connection)."""


class Outlet(Protocol):
    """What leaves from the outbox on a lease of its own: a Sender, or the webhook dispatcher."""

    def start(self) -> None: ...

    async def stop(self, within: float) -> None: ...


class Tally:
    """todo_<channel>_sent_total, _retried_total and _failed_total (nothing without a registry)."""

    def __init__(self, registry: CollectorRegistry | None, channel: str, noun: str) -> None:
        self.counters: dict[str, Counter] = {}
        if registry is not None:
            for outcome, doc in (("sent", "delivered"), ("retried", "failed, to be retried")):
                name = f"todo_{channel}_{outcome}"
                self.counters[outcome] = Counter(name, f"{noun} {doc}.", registry=registry)
            self.counters["failed"] = Counter(
                f"todo_{channel}_failed",
                f"{noun} given up: refused for good, or undelivered for 24 hours.",
                registry=registry,
            )

    def count(self, outcome: str) -> None:
        if outcome in self.counters:
            self.counters[outcome].inc()


def retry_delay(attempt: int) -> float:
    """Seconds before attempt number `attempt + 1` (the first retry after 30 s or so)."""
    delay = min(FIRST_RETRY_SECONDS * 2 ** min(attempt, 20), LAST_RETRY_SECONDS)
    return delay * random.uniform(0.8, 1.2)  # noqa: S311 - spreading retries, not a secret


class Sender(LeasedWorker):
    def __init__(
        self,
        db: Executor,
        queries: Queries,
        deliverer: Deliverer,
        interval: float,
        tally: Tally,
    ) -> None:
        super().__init__(db, queries, f"outbox:{deliverer.channel}", interval)
        self.deliverer, self.tally = deliverer, tally
        self._paused_until = 0.0
        self._pauses = 0

    async def round(self) -> None:
        """Deliver what is due, a claimed batch at a time, while this worker holds the lease."""
        loop = asyncio.get_running_loop()
        if self._stopping.is_set() or loop.time() < self._paused_until:
            return
        async with self._busy:
            try:
                while await self._batch() and await self._still_holding():
                    pass
            finally:
                await self.deliverer.end_round()

    async def _still_holding(self) -> bool:
        """The lease renewed between batches, so a long round never outlives it."""
        lease = max(2, round(2 * self.interval))
        return bool(
            await self.queries.take_outbox_lease(
                self.db, name=self.lease, holder=self.holder, lease_seconds=lease
            )
        )

    async def _batch(self) -> bool:
        """One claimed batch; True when a full batch went well (more may be due)."""
        claimed = self.queries.claim_outbox(
            self.db, channel=self.deliverer.channel, batch=BATCH, claim_seconds=CLAIM_SECONDS
        )
        rows = sorted([row async for row in claimed], key=lambda row: row["id"])
        done = 0
        try:
            for row in rows:
                if self._stopping.is_set():
                    return False
                reachable = await self._attempt(row)
                done += 1
                if not reachable:
                    return False
        finally:
            if done < len(rows):
                ids = [row["id"] for row in rows[done:]]
                await asyncio.shield(self.queries.release_outbox_claims(self.db, ids=ids))
        return len(rows) == BATCH

    async def _attempt(self, row: Mapping[str, Any]) -> bool:
        """Deliver one row and record the outcome; False when the far side is unreachable."""
        row_id, queries = row["id"], self.queries
        try:
            await self.deliverer.deliver(row_id, row["payload"], row["created_at"])
        except Undeliverable as exc:
            log.warning("%s %d undeliverable: %s", self.deliverer.channel, row_id, exc)
            await queries.mark_outbox_failed(self.db, id=row_id, error=str(exc))
            self.tally.count("failed")
            return True
        except Exception as exc:
            reason = str(exc) if isinstance(exc, Retry) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, Retry):
                log.error("%s %d: delivery raised", self.deliverer.channel, row_id, exc_info=exc)
            failed = await queries.mark_outbox_retry(
                self.db,
                id=row_id,
                error=reason,
                delay_seconds=retry_delay(row["attempts"]),
                give_up_seconds=GIVE_UP_SECONDS,
            )
            self.tally.count("failed" if failed else "retried")
            log.warning(
                "%s %d not delivered (%s): %s",
                self.deliverer.channel,
                row_id,
                "given up" if failed else "will retry",
                reason,
            )
            if isinstance(exc, Retry) and exc.unreachable:
                self._pause()
                return False
            return True
        await asyncio.shield(queries.mark_outbox_sent(self.db, id=row_id))
        self.tally.count("sent")
        self._pauses = 0
        return True

    def _pause(self) -> None:
        self._pauses += 1
        pause = min(2.0 ** (self._pauses - 1), LONGEST_PAUSE_SECONDS)
        self._paused_until = asyncio.get_running_loop().time() + pause
