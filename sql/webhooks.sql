-- Webhooks (SPEC §13): an account's receivers, and their deliveries (outbox rows of channel
-- 'webhook', migration 0045).

-- name: count_webhooks(user_id)$
-- How many webhooks the account has. Run after lock_user: one count at a time per account.
SELECT count(*) FROM webhooks WHERE user_id = :user_id;

-- name: create_webhook(user_id, url, events, secret)^
-- The new webhook (its secret sealed), its cursor at the account's committed revision (only
-- later changes reach it). Run after lock_user, so no change of the account commits between
-- reading and writing it.
INSERT INTO webhooks (user_id, url, events, secret, cursor)
SELECT :user_id, :url, :events, :secret, revision FROM users WHERE id = :user_id
RETURNING id, url, events, enabled, disabled_reason, created_at;

-- name: webhook_secrets_to_reseal(sealed_prefix, after, limit)
-- The first `limit` webhooks by id after `after` whose stored secret does not start with
-- `sealed_prefix` (the current key's id): in the clear (stored before sealing) or sealed under
-- an older key. id, secret.
SELECT id, secret FROM webhooks
 WHERE id > :after::uuid AND NOT starts_with(secret, :sealed_prefix)
 ORDER BY id
 LIMIT :limit;

-- name: reseal_webhook_secret(id, stored, sealed)!
-- Nothing: the webhook's secret replaced by `sealed` if it is still `stored`.
UPDATE webhooks SET secret = :sealed WHERE id = :id AND secret = :stored;

-- name: list_webhooks(user_id)
-- The account's webhooks, oldest first (without their secrets).
SELECT id, url, events, enabled, disabled_reason, created_at
  FROM webhooks WHERE user_id = :user_id ORDER BY created_at, id;

-- name: get_webhook(user_id, id)^
-- One webhook of the account (without its secret), or nothing.
SELECT id, url, events, enabled, disabled_reason, created_at
  FROM webhooks WHERE user_id = :user_id AND id = :id;

-- name: enable_webhook(user_id, id, enabled)^
-- The webhook, enabled or disabled, or nothing. Enabled again, its cursor moves to the account's
-- revision: what changed while it was off is not sent (the change feed has it).
UPDATE webhooks AS w
   SET enabled = :enabled,
       disabled_reason = CASE WHEN :enabled THEN NULL
                              WHEN w.enabled THEN 'disabled by its owner'
                              ELSE w.disabled_reason END,
       cursor = CASE WHEN :enabled AND NOT w.enabled THEN u.revision ELSE w.cursor END
  FROM users AS u
 WHERE w.user_id = :user_id AND w.id = :id AND u.id = w.user_id
RETURNING w.id, w.url, w.events, w.enabled, w.disabled_reason, w.created_at;

-- name: delete_webhook(user_id, id)$
-- The id of the account's webhook that was deleted (its queued deliveries with it), or nothing.
DELETE FROM webhooks WHERE user_id = :user_id AND id = :id RETURNING id;

-- name: list_webhook_deliveries(user_id, webhook_id, limit)
-- The webhook's latest deliveries, newest first: what was sent and what its receiver answered.
SELECT o.id, o.payload->>'message_id' AS message_id, o.payload->>'type' AS type,
       CASE WHEN o.sent_at IS NOT NULL THEN 'delivered'
            WHEN o.failed_at IS NOT NULL THEN 'failed' ELSE 'pending' END AS status,
       o.attempts, o.created_at, o.attempted_at, o.response_code,
       o.last_error, o.sent_at, o.failed_at, o.next_attempt_at
  FROM outbox AS o JOIN webhooks AS w ON w.id = o.webhook_id
 WHERE w.user_id = :user_id AND o.webhook_id = :webhook_id
 ORDER BY o.id DESC
 LIMIT :limit;

-- name: lock_webhook(user_id, id)^
-- The account's webhook (enabled), its row locked until the transaction ends: one queuing of
-- a ping or a redelivery at a time per webhook; nothing when there is no such webhook.
SELECT enabled FROM webhooks WHERE user_id = :user_id AND id = :id FOR UPDATE;

-- name: count_manual_deliveries(webhook_id)$
-- How many pings and redeliveries of the webhook wait to be sent.
SELECT count(*) FROM outbox
 WHERE webhook_id = :webhook_id AND sent_at IS NULL AND failed_at IS NULL
   AND payload ? 'manual';

-- name: queue_webhook_copy(user_id, webhook_id, id)^
-- A new delivery of the same message (webhook-id and body) as the webhook's delivery `id`,
-- queued last; nothing when there is no such delivery.
INSERT INTO outbox (channel, webhook_id, payload)
SELECT 'webhook', o.webhook_id, o.payload || '{"manual": true}'
  FROM outbox AS o JOIN webhooks AS w ON w.id = o.webhook_id
 WHERE w.user_id = :user_id AND o.webhook_id = :webhook_id AND o.id = :id
RETURNING id, payload->>'message_id' AS message_id, payload->>'type' AS type, 'pending' AS status,
          attempts, created_at, attempted_at, response_code, last_error, sent_at, failed_at,
          next_attempt_at;

-- name: queue_webhook_ping(user_id, webhook_id, payload)^
-- The ping queued for the account's webhook; nothing when there is no such webhook.
INSERT INTO outbox (channel, webhook_id, payload)
SELECT 'webhook', id, :payload FROM webhooks WHERE user_id = :user_id AND id = :webhook_id
RETURNING id, payload->>'message_id' AS message_id, payload->>'type' AS type, 'pending' AS status,
          attempts, created_at, attempted_at, response_code, last_error, sent_at, failed_at,
          next_attempt_at;

-- name: webhooks_behind(limit)
-- Up to `limit` enabled webhooks whose owner's feed has moved past their cursor: id, user_id.
SELECT w.id, w.user_id::text
  FROM webhooks AS w JOIN users AS u ON u.id = w.user_id
 WHERE w.enabled AND u.revision > w.cursor
 LIMIT :limit;

-- name: lock_webhook_cursor(id)^
-- The enabled webhook's cursor and events, its row locked until the transaction ends (a
-- deletion waits for the deliveries being queued, then takes them with it); nothing when it is
-- gone or disabled.
SELECT cursor, events FROM webhooks WHERE id = :id AND enabled FOR UPDATE;

-- name: queue_webhook_deliveries(webhook_id, payloads, cursor)!
-- Nothing: each payload (a JSON array, in order) queued as a delivery of the webhook, and its
-- cursor moved to `cursor`.
WITH queued AS (
    INSERT INTO outbox (channel, webhook_id, payload)
    SELECT 'webhook', :webhook_id, p.value
      FROM jsonb_array_elements(:payloads::jsonb) WITH ORDINALITY AS p (value, n)
     ORDER BY p.n
)
UPDATE webhooks SET cursor = :cursor WHERE id = :webhook_id;

-- name: claim_webhook_runs(webhooks, run, claim_seconds)
-- For up to `webhooks` enabled webhooks whose oldest unsent delivery is due and unclaimed, those
-- due longest first, that delivery and the next ones, `run` at most, claimed for claim_seconds:
-- a webhook's deliveries leave one after another in the order queued (a later one waits while
-- an earlier one is retried). id, webhook_id, payload, created_at, attempts, url, secret.
WITH due AS (
    SELECT w.id, w.url, w.secret
      FROM webhooks AS w
     CROSS JOIN LATERAL (
           SELECT id, next_attempt_at, claimed_until FROM outbox
            WHERE webhook_id = w.id AND sent_at IS NULL AND failed_at IS NULL
            ORDER BY id LIMIT 1) AS head
     WHERE w.enabled AND head.next_attempt_at <= now()
       AND (head.claimed_until IS NULL OR head.claimed_until < now())
     ORDER BY head.next_attempt_at, head.id
     LIMIT :webhooks
), claimed AS (
    SELECT next.id, due.url, due.secret
      FROM due
     CROSS JOIN LATERAL (
           SELECT id FROM outbox
            WHERE webhook_id = due.id AND sent_at IS NULL AND failed_at IS NULL
            ORDER BY id LIMIT :run) AS next
)
UPDATE outbox AS o
   SET claimed_until = now() + make_interval(secs => :claim_seconds::int)
  FROM claimed
 WHERE o.id = claimed.id
RETURNING o.id, o.webhook_id, o.payload, o.created_at, o.attempts, claimed.url, claimed.secret;

-- name: mark_webhook_sent(id, response_code, excerpt, next_id)$
-- Whether delivery next_id (the next of the run claimed with this one) may still be sent: not
-- deleted with its webhook or account meanwhile, its webhook still enabled. The receiver took
-- delivery `id` (2xx): its answer is kept as a code and an excerpt.
WITH sent AS (
    UPDATE outbox
       SET sent_at = now(), attempted_at = now(), attempts = attempts + 1, claimed_until = NULL,
           response_code = :response_code, last_error = left(:excerpt, 200)
     WHERE id = :id
)
SELECT EXISTS (SELECT FROM outbox AS o JOIN webhooks AS w ON w.id = o.webhook_id
                WHERE o.id = :next_id AND w.enabled
                  AND o.sent_at IS NULL AND o.failed_at IS NULL);

-- name: mark_webhook_retry(id, response_code, error, delay_seconds, give_up_seconds, mail)$
-- True when the delivery is given up (first queued give_up_seconds ago or more): then its webhook
-- is disabled, its other queued deliveries fail with it and (`mail`) its owner is mailed. Else
-- the delivery is due again after delay_seconds, no later than give_up_seconds after it was
-- queued.
WITH attempt AS (
    UPDATE outbox
       SET attempts = attempts + 1, attempted_at = now(), claimed_until = NULL,
           response_code = :response_code, last_error = left(:error, 200),
           failed_at = CASE WHEN created_at <= now() - make_interval(secs => :give_up_seconds::int)
                            THEN now() END,
           next_attempt_at = least(now() + make_interval(secs => :delay_seconds::float8),
                                   created_at + make_interval(secs => :give_up_seconds::int))
     WHERE id = :id
    RETURNING webhook_id, failed_at IS NOT NULL AS given_up
), disabled AS (
    UPDATE webhooks AS w
       SET enabled = false, disabled_reason = 'its receiver failed every attempt for 24 hours'
      FROM attempt
     WHERE attempt.given_up AND w.id = attempt.webhook_id AND w.enabled
    RETURNING w.id, w.user_id, w.url
), rest AS (
    UPDATE outbox AS o
       SET failed_at = now(), claimed_until = NULL, last_error = 'the webhook was disabled'
      FROM disabled
     WHERE o.webhook_id = disabled.id AND o.id <> :id
       AND o.sent_at IS NULL AND o.failed_at IS NULL
), mailed AS (
    INSERT INTO outbox (channel, payload)
    SELECT 'mail', jsonb_build_object('kind', 'webhook-disabled', 'to', u.email, 'name', u.name,
                                      'user_id', u.id, 'url', d.url)
      FROM disabled AS d JOIN users AS u ON u.id = d.user_id
     WHERE :mail
)
SELECT given_up FROM attempt;
