-- depends: 0041.share-lists
-- Invitations to a shared list (issue 26, SPEC §11): the owner invites an email address with a
-- role; an account whose verified address equals it (lower-cased, as users.email is compared)
-- accepts or declines. `status` keeps what happened (pending, accepted, declined, revoked,
-- expired); a pending invitation past expires_at answers as expired, and is stored so when
-- its address is invited again.
--
-- An invitation names the owner of its list (owner_id, as list_members does): deleting the
-- list or the owner's account deletes its invitations.
CREATE TABLE invitations (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    list_id      uuid        NOT NULL,
    owner_id     uuid        NOT NULL,
    email        text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    role         text        NOT NULL CHECK (role IN ('editor', 'viewer')),
    invited_by   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status       text        NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'accepted', 'declined', 'revoked',
                                               'expired')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    responded_at timestamptz,
    FOREIGN KEY (owner_id, list_id) REFERENCES lists (user_id, id) ON DELETE CASCADE
);

-- One pending invitation per list and address: a second is refused by this index (409).
CREATE UNIQUE INDEX invitations_pending_key ON invitations (list_id, lower(email))
    WHERE status = 'pending';
-- A list's invitations, newest first.
CREATE INDEX invitations_list_idx ON invitations (list_id, created_at);
-- The pending invitations addressed to an account.
CREATE INDEX invitations_address_idx ON invitations (lower(email)) WHERE status = 'pending';

-- An invitation's mail not yet sent (the outbox row names it as invitation_id) goes when the
-- invitation stops being pending (answered, revoked, expired) or is deleted (its list or its
-- owner's account deleted): nobody is mailed a link that no longer works.
CREATE INDEX outbox_invitation_idx ON outbox ((payload->>'invitation_id'))
    WHERE payload ? 'invitation_id' AND sent_at IS NULL AND failed_at IS NULL;

CREATE FUNCTION drop_invitation_mail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM outbox
     WHERE payload ? 'invitation_id' AND sent_at IS NULL AND failed_at IS NULL
       AND payload->>'invitation_id' = OLD.id::text;
    RETURN NULL;
END
$$;

CREATE TRIGGER invitations_drop_mail AFTER DELETE ON invitations
    FOR EACH ROW EXECUTE FUNCTION drop_invitation_mail();
CREATE TRIGGER invitations_drop_mail_on_answer AFTER UPDATE OF status ON invitations
    FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status <> 'pending')
    EXECUTE FUNCTION drop_invitation_mail();

-- What an invitation answers as its status: a pending one past its expiry is expired.
CREATE FUNCTION invitation_state(status text, expires_at timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' ELSE status END
$$;

-- The address an account may answer invitations at: its email, lower-cased as users.email is
-- compared, when verified; null when not (then it sees no invitation at all).
CREATE FUNCTION verified_address(account uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT lower(email) FROM users WHERE id = account AND email_verified
$$;
