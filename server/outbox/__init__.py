"""The outbox (SPEC §12): what leaves the service for someone else's server (mails, pushes, and
later webhook deliveries) is a row written in the transaction that causes it, delivered by the
one sender of its channel in the cluster, with retries."""
