-- Web Push subscriptions (SPEC §12): a browser's PushSubscription, per account.

-- name: count_push_subscriptions(user_id)$
-- How many push subscriptions the account has.
SELECT count(*) FROM push_subscriptions WHERE user_id = :user_id;

-- name: save_push_subscription(user_id, endpoint, p256dh, auth)^
-- The subscription with this endpoint, its keys replaced when it existed; `created` tells which.
INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)
VALUES (:user_id, :endpoint, :p256dh, :auth)
ON CONFLICT (user_id, endpoint) DO UPDATE SET p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth
RETURNING id, endpoint, created_at, xmax = 0 AS created;

-- name: list_push_subscriptions(user_id)
-- The account's push subscriptions, oldest first.
SELECT id, endpoint, created_at FROM push_subscriptions
WHERE user_id = :user_id ORDER BY created_at, id;

-- name: delete_push_subscription(user_id, id)$
-- The id of the account's subscription that was deleted, or nothing.
DELETE FROM push_subscriptions WHERE id = :id AND user_id = :user_id RETURNING id;

-- name: push_target(id)^
-- Where a push to this subscription goes, the keys it is encrypted for and its account, or
-- nothing.
SELECT endpoint, p256dh, auth, user_id::text FROM push_subscriptions WHERE id = :id;

-- name: drop_push_subscription(id, endpoint)!
-- Nothing: the push service said the subscription is gone (404, 410).
DELETE FROM push_subscriptions WHERE id = :id AND endpoint = :endpoint;
