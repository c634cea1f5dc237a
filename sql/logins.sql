-- Failed logins over a sliding window, counted per email (lower-cased) and per client address.

-- name: lock_login_limits(email, client)!
-- Nothing: takes this email's, then this client's, transaction-scoped advisory lock.
SELECT pg_advisory_xact_lock(1, hashtext(lower(:email))),
       pg_advisory_xact_lock(2, hashtext(:client));

-- name: login_retry_after(email, client, window_seconds, per_email, per_client)$
-- Seconds until the email and the client are both under their limits again; NULL if they are.
SELECT ceil(extract(epoch FROM greatest(
    (SELECT failed_at FROM login_failures
     WHERE email = lower(:email) AND failed_at > now() - make_interval(secs => :window_seconds::int)
     ORDER BY failed_at DESC OFFSET :per_email::int - 1 LIMIT 1),
    (SELECT failed_at FROM login_failures
     WHERE client = :client AND failed_at > now() - make_interval(secs => :window_seconds::int)
     ORDER BY failed_at DESC OFFSET :per_client::int - 1 LIMIT 1)
) - now()) + :window_seconds::int)::int;

-- name: record_login_failure(email, client)!
-- Nothing: counts one failed (or, until it succeeds, pending) login.
INSERT INTO login_failures (email, client) VALUES (lower(:email), :client);

-- name: prune_login_failures(email, client, window_seconds)!
-- Nothing: drops this email's and this client's failures that have left the window.
DELETE FROM login_failures
WHERE (email = lower(:email) OR client = :client)
  AND failed_at <= now() - make_interval(secs => :window_seconds::int);

-- name: clear_login_failures(email, client)!
-- Nothing: forgets this email's failures from this client (a login from it succeeded).
DELETE FROM login_failures WHERE email = lower(:email) AND client = :client;
