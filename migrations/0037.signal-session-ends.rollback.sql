DROP TRIGGER login_families_gone ON login_families;
DROP TRIGGER login_families_end ON login_families;
DROP FUNCTION signal_session_end();
