"""Webhooks' signing secrets at rest: sealed (server/sealing.py) under WEBHOOK_SECRET_KEY, a key
of their own (in development, one derived from JWT_SECRET), so a copy of the database alone
cannot sign a delivery a receiver would take. The secret is shown once, at creation; the
dispatcher opens it to sign each attempt. A row stored before sealing (its `whsec_` secret in
the clear) or sealed under a key no longer first is re-sealed under the first key by the
dispatcher as it starts (dispatcher.py)."""

from __future__ import annotations

import functools

from server.config import Settings
from server.sealing import KeyRing
from server.webhooks.signing import PREFIX

CONTEXT = b"todo-api webhook signing secret"


def key_ring(settings: Settings) -> KeyRing:
    return _ring(settings.webhook_secret_keys or (settings.jwt_secret,))


@functools.cache
def _ring(keys: tuple[str, ...]) -> KeyRing:
    return KeyRing(keys, CONTEXT)  # each key derived once


def opened(ring: KeyRing, stored: str) -> str:
    """The signing secret of a stored one: sealed, or (stored before sealing) in the clear."""
    return stored if stored.startswith(PREFIX) else ring.open(stored)
