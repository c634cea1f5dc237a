"""A token on its way to a mail, sealed: the account_tokens table keeps only its SHA-256, and the
outbox row that carries it to the sender keeps it encrypted (AES-GCM under a key derived from
JWT_SECRET) until it is sent or given up, when it is dropped. A copy of the database alone
holds no token that works."""

from __future__ import annotations

import base64
import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CONTEXT = b"todo-api outbox token"


class Unsealable(ValueError):
    """Not sealed by this key (JWT_SECRET changed since), or tampered with."""


class Sealer:
    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CONTEXT).derive(
            secret.encode()
        )
        self._aead = AESGCM(key)

    def seal(self, text: str) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, text.encode(), CONTEXT)
        return base64.urlsafe_b64encode(sealed).decode()

    def open(self, sealed: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode())
            return self._aead.decrypt(raw[:12], raw[12:], CONTEXT).decode()
        except (InvalidTag, ValueError) as exc:
            raise Unsealable("the token cannot be opened with this JWT_SECRET") from exc


@functools.cache
def sealer_for(secret: str) -> Sealer:
    """The one Sealer of a JWT_SECRET (deriving its key once)."""
    return Sealer(secret)
