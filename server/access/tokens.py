"""Tokens: access tokens (JWTs naming an account and its login family) issued and read, the
bearer header, and opaque refresh tokens with the hash that is all the database keeps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from server.config import Settings
from server.errors import Unauthorized

STREAM_COOKIE_REFUSED = "The stream cookie is invalid or expired; log in again in browser mode."
# `sid` names the token's login family (a session): ending the family ends its access tokens.
REQUIRED_CLAIMS = ["sub", "iat", "exp", "iss", "aud", "jti", "sid"]


def issue_access_token(settings: Settings, user_id: str, session_id: str) -> str:
    return _issue(settings, user_id, session_id, settings.access_token_ttl, settings.jwt_audience)


def issue_stream_token(settings: Settings, user_id: str, session_id: str) -> str:
    """The stream cookie's credential: its login family's, for as long as a family may live (the
    family's own end, and every revocation, are checked in PostgreSQL on each use). Its own
    audience: never an access token, and an access token is never one."""
    return _issue(
        settings, user_id, session_id, settings.refresh_family_ttl, stream_audience(settings)
    )


def stream_audience(settings: Settings) -> str:
    return f"{settings.jwt_audience}/events"


def _issue(settings: Settings, user_id: str, session_id: str, ttl: int, audience: str) -> str:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "sid": session_id,
        "iat": now,
        "exp": now + ttl,
        "iss": settings.jwt_issuer,
        "aud": audience,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def read_access_token(
    settings: Settings, token: str, audience: str | None = None
) -> tuple[AccessToken, int]:
    """Whom a valid token speaks for, and its expiry; anything else is a 401. `audience`: the
    stream cookie's (stream_audience), else an access token's."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            audience=audience or settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
            leeway=settings.clock_skew_seconds,  # exp and iat; revocation allows none
        )
        expires = int(claims["exp"])
        subject = AccessToken(
            str(uuid.UUID(str(claims["sub"]))), str(uuid.UUID(str(claims["sid"]))), expires
        )
        return subject, expires + settings.clock_skew_seconds
    except jwt.ExpiredSignatureError:
        if audience:
            raise Unauthorized(STREAM_COOKIE_REFUSED) from None
        raise Unauthorized("The access token has expired.") from None
    except (jwt.InvalidTokenError, ValueError):
        if audience:
            raise Unauthorized(STREAM_COOKIE_REFUSED) from None
        raise Unauthorized("The access token is invalid.") from None


@dataclass(frozen=True)
class AccessToken:
    """What a verified access token says: its account, its login family (session), and its
    `exp` (an event stream ends then)."""

    user_id: str
    session_id: str
    expires: int


class AccessTokenReader:
    """Verifies access tokens, remembering each verified one until it expires: a client sends
    the same token for up to 30 minutes, and checking its signature again each time is most of
    what authentication costs. Only verified tokens are kept; expiry is checked on every use.
    Whether the token was revoked is not remembered: PostgreSQL answers that on every request
    (`token_account_ok`), so a revocation holds at once on every worker and instance."""

    def __init__(self, settings: Settings, size: int = 4096) -> None:
        self.settings = settings
        self.size = size
        self._verified: OrderedDict[str, tuple[AccessToken, int]] = OrderedDict()

    def read(self, token: str) -> AccessToken:
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            self._verified.move_to_end(token)
            return known[0]
        subject, expires = read_access_token(self.settings, token)
        self._verified[token] = (subject, expires)
        if len(self._verified) > self.size:
            self._verified.popitem(last=False)
        return subject


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an access token as 'Authorization: Bearer <token>'.")
    return token.strip()


def new_refresh_token() -> tuple[str, bytes]:
    """An opaque token of 256 random bits, and the hash that is all the database keeps."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_hash(token)


def successor_token(settings: Settings, token: str) -> tuple[str, bytes]:
    """The refresh token that replaces `token` when it is spent, and its hash: derived from it
    under the secret (256 bits, as random as `token` to anyone without the secret), so that the
    same token spent again is answered with the same successor (server/accounts/auth.py)."""
    key, message = settings.jwt_secret.encode(), b"refresh-successor\0" + token.encode()
    mac = hmac.digest(key, message, "sha256")
    successor = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    return successor, refresh_token_hash(successor)


def refresh_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
