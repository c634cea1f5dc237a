DROP FUNCTION verified_address(uuid);
DROP FUNCTION invitation_state(text, timestamptz);
DROP TABLE invitations;
DROP FUNCTION drop_invitation_mail();
DROP INDEX outbox_invitation_idx;
