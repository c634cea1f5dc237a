"""The cluster's one webhook dispatcher: the holder of the `outbox:webhook` lease (the outbox's
lease pattern, server/db/lease.py) runs rounds of two steps.

- Queue: for each enabled webhook whose owner's change feed moved past its cursor, in one
  transaction: lock the webhook, read the feed after the cursor (server/sync: revisions handed
  out in commit order per account), queue a delivery per entry the webhook subscribed to, move
  the cursor. Each change is queued once and in commit order, whatever crashes; a webhook
  deleted meanwhile waits for the lock, then takes what was queued with it. A member's feed is
  the member's lists: one removed from a shared list stops getting its events with no check
  here. (Reminders are queued by the scheduler's fired step, sql/reminders.sql.)
- Send: the oldest unsent deliveries of each webhook whose oldest is due (20 at most), one
  after another, a batch of webhooks at once (concurrently: one slow receiver costs its own
  10 s, not everyone's). A webhook's next delivery waits until the one before it is
  delivered (after a failure the rest are given back): commit order per webhook. 2xx marks it
  sent; anything else retries it with the outbox's backoff (30 s doubling to an hour) under the
  same webhook-id; 24 h after it was queued it is given up, the webhook disabled, its queued
  deliveries failed and its owner mailed.

Rounds repeat while they send something (the lease renewed between them), so a burst drains at
the receiver's pace, not the interval's. The first round of a holder re-seals the signing
secrets not sealed under the first WEBHOOK_SECRET_KEY (secrets.py): stored before sealing, or
under a key since put second; a delivery whose secret no key set opens is not sent (retried, then
given up as any failure).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from server.db.executor import Executor
from server.db.queries import Queries
from server.outbox.leased import LeasedWorker
from server.outbox.sender import CLAIM_SECONDS, GIVE_UP_SECONDS, Tally, retry_delay
from server.sealing import KeyRing, Unsealable
from server.sync.feed import changes_between
from server.webhooks.deliver import Outcome, WebhookPoster
from server.webhooks.events import feed_payloads
from server.webhooks.secrets import opened

log = logging.getLogger("todo_api")

CHANNEL = "webhook"
LEASE = f"outbox:{CHANNEL}"
WEBHOOKS_PER_ROUND = 100  # webhooks whose feed is read, and heads sent, per round
FEED_BATCH = 500  # feed entries one webhook queues per round
RUN = 20  # deliveries of one webhook claimed at once, sent one after another
RESEAL_BATCH = 100  # webhooks read at once to re-seal their secrets, by id


class Dispatcher(LeasedWorker):
    def __init__(
        self,
        db: Executor,
        queries: Queries,
        poster: WebhookPoster,
        interval: float,
        tally: Tally,
        *,
        mail: bool,
        keys: KeyRing,
    ) -> None:
        super().__init__(db, queries, LEASE, interval)
        self.poster, self.tally, self.mail, self.keys = poster, tally, mail, keys
        self.resealed = False

    async def round(self) -> None:
        if self._stopping.is_set():
            return
        async with self._busy:
            if not self.resealed:
                await self.reseal()
            try:
                while not self._stopping.is_set():
                    queued = await self.queue()
                    sent = await self.send()
                    if not (queued or sent) or not await self._still_holding():
                        break
            finally:
                await self.poster.close()

    async def _still_holding(self) -> bool:
        lease = max(2, round(2 * self.interval))
        return bool(
            await self.queries.take_outbox_lease(
                self.db, name=LEASE, holder=self.holder, lease_seconds=lease
            )
        )

    async def reseal(self) -> None:
        """Every stored secret sealed under the first key, a batch at a time (a row changed
        meanwhile, by another holder or a deletion, is left as it now is)."""
        prefix, after = f"{self.keys.current_id}:", str(uuid.UUID(int=0))
        while not self._stopping.is_set():
            rows = [
                row
                async for row in self.queries.webhook_secrets_to_reseal(
                    self.db, sealed_prefix=prefix, after=after, limit=RESEAL_BATCH
                )
            ]
            for row in rows:
                try:
                    secret = opened(self.keys, row["secret"])
                except Unsealable:
                    continue  # no key set opens it: its deliveries fail until one does
                await self.queries.reseal_webhook_secret(
                    self.db, id=row["id"], stored=row["secret"], sealed=self.keys.seal(secret)
                )
            if len(rows) < RESEAL_BATCH:
                break
            after = str(rows[-1]["id"])
        self.resealed = True

    async def queue(self) -> bool:
        """Feed entries after each behind webhook's cursor queued; True when more may wait."""
        behind = [
            row async for row in self.queries.webhooks_behind(self.db, limit=WEBHOOKS_PER_ROUND)
        ]
        more = False
        for webhook in behind:
            more |= await self._queue_one(webhook["id"], webhook["user_id"])
        return more or len(behind) == WEBHOOKS_PER_ROUND

    async def _queue_one(self, webhook_id: str, user_id: str) -> bool:
        queries = self.queries
        async with self.db.transaction() as conn:
            webhook = await queries.lock_webhook_cursor(conn, id=webhook_id)
            state = await queries.sync_state(conn, user_id=user_id)
            if webhook is None or state is None:
                return False
            # the owner's feed as /changes reads it: a member's webhook hears the shared lists
            rows = await changes_between(
                conn,
                queries,
                user_id,
                state["member"],
                webhook["cursor"],
                state["revision"],
                False,
                FEED_BATCH,
            )
            full = len(rows) == FEED_BATCH
            cursor = rows[-1]["revision"] if full else state["revision"]
            payloads = feed_payloads(rows, webhook["events"])
            await queries.queue_webhook_deliveries(
                conn, webhook_id=webhook_id, payloads=payloads, cursor=cursor
            )
            return full

    async def send(self) -> bool:
        """Each due webhook's next deliveries attempted in order, the webhooks at once; True
        when any was delivered."""
        claimed = self.queries.claim_webhook_runs(
            self.db, webhooks=WEBHOOKS_PER_ROUND, run=RUN, claim_seconds=CLAIM_SECONDS
        )
        runs: dict[str, list[Mapping[str, Any]]] = {}
        async for row in claimed:
            runs.setdefault(row["webhook_id"], []).append(row)
        done = await asyncio.gather(
            *(self._run_in_order(sorted(rows, key=lambda r: r["id"])) for rows in runs.values())
        )
        return any(done)

    async def _run_in_order(self, rows: list[Mapping[str, Any]]) -> bool:
        """One webhook's claimed deliveries, one after another until one fails, or the next is
        gone (deleted with its webhook or account) or its webhook disabled meanwhile (those not
        attempted are given back, due as they were); True when any was delivered."""
        attempted = delivered = 0
        try:
            for row, after in zip(rows, [*rows[1:], None], strict=True):
                if self._stopping.is_set():
                    break
                attempted += 1
                sent, go_on = await self._attempt(row, after["id"] if after else None)
                delivered += sent
                if not go_on:
                    break
        finally:
            if attempted < len(rows):
                left = [row["id"] for row in rows[attempted:]]
                await asyncio.shield(self.queries.release_outbox_claims(self.db, ids=left))
        return delivered > 0

    async def _attempt(self, row: Mapping[str, Any], next_id: int | None) -> tuple[bool, bool]:
        """One attempt, recorded: (delivered, whether delivery next_id may follow)."""
        try:
            secret = opened(self.keys, row["secret"])
        except Unsealable:
            outcome = Outcome(
                False, None, "its signing secret opens with none of WEBHOOK_SECRET_KEY"
            )
        else:
            outcome = await self.poster.post(row["url"], secret, row["payload"])
        if outcome.delivered:
            go_on = await asyncio.shield(
                self.queries.mark_webhook_sent(
                    self.db,
                    id=row["id"],
                    response_code=outcome.status,
                    excerpt=outcome.note,
                    next_id=next_id,
                )
            )
            self.tally.count("sent")
            return True, go_on
        given_up = await asyncio.shield(
            self.queries.mark_webhook_retry(
                self.db,
                id=row["id"],
                response_code=outcome.status,
                error=outcome.note,
                delay_seconds=retry_delay(row["attempts"]),
                give_up_seconds=GIVE_UP_SECONDS,
                mail=self.mail,
            )
        )
        self.tally.count("failed" if given_up else "retried")
        log.info(
            "webhook delivery %d not delivered (%s): %s %s",
            row["id"],
            "given up, webhook disabled" if given_up else "will retry",
            outcome.status,
            outcome.note[:100],
        )
        return False, False
