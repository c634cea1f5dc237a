ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_family_fkey;
DROP TABLE login_families;
