-- name: user_exists(id)$
-- True when an account with this id exists (checked for every access token).
SELECT EXISTS (SELECT 1 FROM users WHERE id = :id);
