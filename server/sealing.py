"""Secrets kept sealed at rest: what a copy of the database alone must not hand over (a mail's
one-time token on its way out, a webhook's signing secret). AES-GCM under a key derived (HKDF)
from a secret setting and a context naming what is sealed, so one setting's key never opens
another context's text.

A KeyRing holds several keys by id (the first 8 hex digits of the SHA-256 of the derived key):
it seals with the first, writing its id before the sealed text (`<id>:<sealed>`), and opens with
whichever key the text names, so a new key put first while the old ones stay listed opens every
row, and re-sealing what `is_current` says is not moves the rows onto the new one."""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAIL_TOKENS = b"todo-api outbox token"  # a mail's token in the outbox (the JWT_SECRET's key)


class Unsealable(ValueError):
    """Not sealed by this key (its setting changed since), or tampered with."""


class Sealer:
    def __init__(self, secret: str, context: bytes = MAIL_TOKENS) -> None:
        self.key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=context).derive(
            secret.encode()
        )
        self.context = context
        self._aead = AESGCM(self.key)

    def seal(self, text: str) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, text.encode(), self.context)
        return base64.urlsafe_b64encode(sealed).decode()

    def open(self, sealed: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._aead.decrypt(raw[:12], raw[12:], self.context).decode()
        except (InvalidTag, ValueError) as exc:
            raise Unsealable("the text cannot be opened with this key") from exc


class KeyRing:
    def __init__(self, secrets: Sequence[str], context: bytes) -> None:
        if not secrets:
            raise ValueError("a key ring needs a key")
        sealers = [Sealer(secret, context) for secret in secrets]
        self._by_id = {hashlib.sha256(s.key).hexdigest()[:8]: s for s in sealers}
        self.current_id = next(iter(self._by_id))

    def seal(self, text: str) -> str:
        return f"{self.current_id}:{self._by_id[self.current_id].seal(text)}"

    def open(self, sealed: str) -> str:
        key_id, _, text = sealed.partition(":")
        sealer = self._by_id.get(key_id)
        if sealer is None:
            raise Unsealable(f"sealed under key {key_id!r}, which is not among the keys set")
        return sealer.open(text)

    def is_current(self, sealed: str) -> bool:
        return sealed.startswith(f"{self.current_id}:")


@functools.cache
def sealer_for(secret: str) -> Sealer:
    """The one Sealer of a JWT_SECRET for mail tokens (deriving its key once)."""
    return Sealer(secret)
