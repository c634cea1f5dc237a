"""Personal access tokens (issue 27, SPEC §13): their form, their scopes, and the keyed hash
that is all the database keeps.

A token is `tdo_` and 65 bytes in unpadded URL-safe base64 (87 characters): its account's id
(16 bytes), its own id (16), its scopes (one byte, a bit each) and 32 random bytes (256 bits).
The gate reads whom it speaks for and what it may do before any statement, as it reads an
access token's claims; whether the token is genuine and live is answered by the account check
every statement already makes (sql/tokens.sql: the row with its id, its account and the
HMAC-SHA256 of the whole token string, unexpired). A token altered anywhere, its scope byte
included, has another hash: 401, as an unknown one. A fast keyed hash is right for a secret of
256 random bits (nothing to guess); the key, derived from the server's secret, keeps a copy of
the table alone from confirming a token.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from server.config import Settings
from server.errors import Unauthorized

PREFIX = "tdo_"
# Each scope's bit in the token, in this order forever (a new scope takes the next bit).
SCOPES = ("tasks:read", "tasks:write", "lists:read", "lists:write", "account:read")
_BODY = re.compile(r"[A-Za-z0-9_-]{87}")
_INVALID = "The access token is invalid."  # as a bad access token's (server/access/tokens.py)


@dataclass(frozen=True)
class PersonalToken:
    """What a personal token says of itself (true only once the account check finds its hash)."""

    user_id: str
    token_id: str
    scopes: frozenset[str]
    token_hash: bytes


def is_personal(token: str) -> bool:
    return token.startswith(PREFIX)


def new_token(settings: Settings, user_id: str, scopes: Iterable[str]) -> tuple[str, PersonalToken]:
    """A new token for the account, and what it says (its id a fresh uuid4)."""
    token_id = uuid.uuid4()
    mask = sum(1 << SCOPES.index(scope) for scope in set(scopes))
    raw = uuid.UUID(user_id).bytes + token_id.bytes + bytes([mask]) + secrets.token_bytes(32)
    token = PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return token, read_token(settings, token)


def read_token(settings: Settings, token: str) -> PersonalToken:
    """What a well-formed personal token says; anything else is the 401 of a bad access token."""
    body = token[len(PREFIX) :]
    if not _BODY.fullmatch(body):
        raise Unauthorized(_INVALID)
    raw = base64.urlsafe_b64decode(body + "=")
    mask = raw[32]
    if mask == 0 or mask >> len(SCOPES):
        raise Unauthorized(_INVALID)
    scopes = frozenset(scope for bit, scope in enumerate(SCOPES) if mask >> bit & 1)
    return PersonalToken(_uuid(raw[:16]), _uuid(raw[16:32]), scopes, _hash(settings, token))


class PersonalTokenReader:
    """read_token, remembering what each token it read says (a script sends the same token on
    every request, and the hash is most of reading it). Only what the token says is kept:
    whether it is genuine and live is the account check's, on every request."""

    def __init__(self, settings: Settings, size: int = 4096) -> None:
        self.settings, self.size = settings, size
        self._read: OrderedDict[str, PersonalToken] = OrderedDict()

    def read(self, token: str) -> PersonalToken:
        known = self._read.get(token)
        if known is not None:
            self._read.move_to_end(token)
            return known
        said = self._read[token] = read_token(self.settings, token)
        if len(self._read) > self.size:
            self._read.popitem(last=False)
        return said


def _uuid(raw: bytes) -> str:
    """16 bytes as a uuid's text (what str(uuid.UUID(bytes=raw)) gives, without the object)."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _hash(settings: Settings, token: str) -> bytes:
    key, message = settings.jwt_secret.encode(), b"personal-access-token\0" + token.encode()
    return hmac.digest(key, message, "sha256")
