-- The outbox (migration 0038): every mail and push leaves from a row written in the transaction
-- that caused it, delivered by the one sender of its channel in the cluster (server/outbox/).

-- name: take_outbox_lease(name, holder, lease_seconds)$
-- True when this holder now holds the named sender's lease (free, expired, or its own).
UPDATE purge_lease
SET holder = :holder, leased_until = now() + make_interval(secs => :lease_seconds::int)
WHERE name = :name AND (holder = :holder OR leased_until < now())
RETURNING true;

-- name: release_outbox_lease(name, holder)!
-- Nothing: gives the sender's lease up (a worker that stops), so another takes it at once.
UPDATE purge_lease SET leased_until = '-infinity' WHERE name = :name AND holder = :holder;

-- name: claim_outbox(channel, batch, claim_seconds)
-- Up to `batch` due rows of the channel, the oldest first, claimed for claim_seconds (a second
-- sender passes them by): id, payload, created_at, attempts. A claim runs out by itself after
-- a crash.
UPDATE outbox AS o
   SET claimed_until = now() + make_interval(secs => :claim_seconds::int)
  FROM (SELECT id FROM outbox
         WHERE channel = :channel AND sent_at IS NULL AND failed_at IS NULL
           AND next_attempt_at <= now()
           AND (claimed_until IS NULL OR claimed_until < now())
         ORDER BY next_attempt_at, id
         LIMIT :batch
           FOR UPDATE SKIP LOCKED) AS due
 WHERE o.id = due.id
RETURNING o.id, o.payload, o.created_at, o.attempts;

-- name: mark_outbox_sent(id)!
-- Nothing: the row was delivered; the token it carried (sealed) is dropped with the claim.
UPDATE outbox SET sent_at = now(), claimed_until = NULL, payload = payload - 'token'
WHERE id = :id;

-- name: mark_outbox_retry(id, error, delay_seconds, give_up_seconds)$
-- True when the row is failed for good (first written give_up_seconds ago or more); else it is
-- due again after delay_seconds, and no later than give_up_seconds after it was written.
UPDATE outbox
   SET attempts = attempts + 1, last_error = left(:error, 500), claimed_until = NULL,
       failed_at = CASE WHEN created_at <= now() - make_interval(secs => :give_up_seconds::int)
                        THEN now() END,
       next_attempt_at = least(now() + make_interval(secs => :delay_seconds::float8),
                               created_at + make_interval(secs => :give_up_seconds::int)),
       payload = CASE WHEN created_at <= now() - make_interval(secs => :give_up_seconds::int)
                      THEN payload - 'token' ELSE payload END
 WHERE id = :id
RETURNING failed_at IS NOT NULL;

-- name: mark_outbox_failed(id, error)!
-- Nothing: the row cannot be delivered (refused for good, or malformed); it is not retried.
UPDATE outbox
   SET attempts = attempts + 1, failed_at = now(), last_error = left(:error, 500),
       claimed_until = NULL, payload = payload - 'token'
 WHERE id = :id;

-- name: release_outbox_claims(ids)!
-- Nothing: rows claimed but not attempted (a sender that stops) are due again at once.
UPDATE outbox SET claimed_until = NULL
WHERE id = ANY (:ids::bigint[]) AND sent_at IS NULL AND failed_at IS NULL;

-- name: outbox_oldest_unsent()$
-- Seconds since the oldest mail or push neither sent nor failed was written; null when there is
-- none. Webhook deliveries do not count: one account's receiver being down says nothing of the
-- service's health.
SELECT extract(epoch FROM now() - min(created_at))::float8
FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND channel <> 'webhook';

-- name: purge_outbox()$
-- How many rows sent or failed more than 7 days ago were forgotten.
WITH gone AS (
    DELETE FROM outbox
     WHERE (sent_at IS NOT NULL OR failed_at IS NOT NULL)
       AND coalesce(sent_at, failed_at) < now() - interval '7 days'
    RETURNING 1
)
SELECT count(*) FROM gone;
