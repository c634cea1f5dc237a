"""Sync across tabs and devices (SPEC §7): the trash, the change feed, live events, bulk."""
