"""Webhooks (SPEC §13): an account's receivers of its changes and reminders, signed per the
Standard Webhooks scheme and delivered from the outbox by the cluster's one dispatcher."""
