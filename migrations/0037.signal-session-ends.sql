-- depends: 0036.keep-reminder-times
-- A login family that stops being live (ended: logout, logout-all, a password change, a session
-- ended by id, a reused refresh token; its lifetime cut short; deleted with its account) signals
-- its user on channel todo_events, delivered at commit, so every instance's open event streams
-- of that user re-check their session at once (SPEC §9: revocation holds on every instance).
-- A transaction's identical payloads arrive once: logout-all ending 50 families is one signal.
CREATE FUNCTION signal_session_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('todo_events',
                      json_build_object('user_id', OLD.user_id, 'kind', 'session')::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER login_families_end AFTER UPDATE OF ended_at, expires_at ON login_families
    FOR EACH ROW
    WHEN (OLD.ended_at IS NULL
          AND (NEW.ended_at IS NOT NULL OR NEW.expires_at < OLD.expires_at))
    EXECUTE FUNCTION signal_session_end();

CREATE TRIGGER login_families_gone AFTER DELETE ON login_families
    FOR EACH ROW WHEN (OLD.ended_at IS NULL AND OLD.expires_at > now())
    EXECUTE FUNCTION signal_session_end();
