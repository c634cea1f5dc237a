"""Outbound mail (SPEC §12): messages built from outbox rows, sent over SMTP or, in development
without SMTP_URL, written as .eml files under DATA_DIR/mail/."""
