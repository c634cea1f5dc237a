"""Web Push (SPEC §12; RFC 8030, 8291, 8292): browsers' subscriptions, the VAPID key pair, and
the push channel's deliverer."""
