-- Failed logins over a sliding window, counted per (email, client), per email (lower-cased)
-- and per client; and signups per client. A client is an address, or an IPv6 /64.

-- name: lock_login_limits(email, client)!
-- Nothing: takes this email's, then this client's, transaction-scoped advisory lock.
SELECT pg_advisory_xact_lock(1, hashtext(lower(:email))),
       pg_advisory_xact_lock(2, hashtext(:client));

-- name: login_retry_after(email, client, window_seconds, per_email_client, per_email, per_client)$
-- Seconds until the pair, the email and the client are all under their limits; NULL if they are.
SELECT ceil(extract(epoch FROM greatest(
    (SELECT failed_at FROM login_failures
     WHERE email = lower(:email) AND client = :client
       AND failed_at > now() - make_interval(secs => :window_seconds::int)
     ORDER BY failed_at DESC OFFSET :per_email_client::int - 1 LIMIT 1),
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

-- name: clear_login_failures(email, client)!
-- Nothing: forgets this email's failures from this client (a login from it succeeded).
DELETE FROM login_failures WHERE email = lower(:email) AND client = :client;

-- name: lock_signups(client)!
-- Nothing: takes this client's transaction-scoped signup lock.
SELECT pg_advisory_xact_lock(3, hashtext(:client));

-- name: signup_retry_after(client, per_window, window_seconds)$
-- Seconds until this client may sign up again; NULL when it may now.
SELECT ceil(extract(epoch FROM
    (SELECT attempted_at FROM signup_attempts
     WHERE client = :client AND attempted_at > now() - make_interval(secs => :window_seconds::int)
     ORDER BY attempted_at DESC OFFSET :per_window::int - 1 LIMIT 1)
    - now()) + :window_seconds::int)::int;

-- name: record_signup(client)!
-- Nothing: counts one signup attempt of this client.
INSERT INTO signup_attempts (client) VALUES (:client);
