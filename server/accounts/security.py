"""Password hashing (on a thread pool, never the event loop) and access/refresh tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import bcrypt
import jwt

from server.config import Settings
from server.errors import Unauthorized

T = TypeVar("T")
REQUIRED_CLAIMS = ["sub", "iat", "exp", "iss", "aud", "jti"]


def _prehash(password: str) -> bytes:
    """bcrypt reads 72 bytes; SHA-256 first makes every character count (44 base64 bytes).

    base64 because bcrypt stops at a NUL byte; `surrogatepass` so even a lone surrogate from JSON
    hashes instead of failing."""
    digest = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest)


def hash_password_blocking(password: str, rounds: int) -> str:
    """The bcrypt hash of a password. Blocks for its whole cost: call it off the event loop."""
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


class PasswordHasher:
    """bcrypt on a small dedicated pool, so hashing neither blocks the loop nor starves it."""

    def __init__(self, rounds: int, threads: int = 2) -> None:
        self.rounds = rounds
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bcrypt")
        # A well-formed hash of this cost that no password matches: checking against it costs
        # what a real check costs, and making it costs nothing.
        self._dummy = (bcrypt.gensalt(rounds) + b"A" * 31).decode()
        self.depth = 0  # hashes and checks waiting or running (the metrics read it)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        self.depth += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self.depth -= 1

    def _hash(self, password: str) -> str:
        return hash_password_blocking(password, self.rounds)

    @staticmethod
    def _check(password: str, hashed: str) -> bool:
        return bcrypt.checkpw(_prehash(password), hashed.encode())

    async def hash(self, password: str) -> str:
        return await self._run(self._hash, password)

    async def verify(self, password: str, hashed: str | None) -> bool:
        """With no hash (unknown account) a dummy check runs, so timing reveals nothing."""
        matches = await self._run(self._check, password, hashed or self._dummy)
        return matches and hashed is not None

    def close(self) -> None:
        self.executor.shutdown(wait=False)


def issue_access_token(settings: Settings, user_id: str) -> str:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "iat": now,
        "exp": now + settings.access_token_ttl,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def read_access_token(settings: Settings, token: str) -> tuple[str, int]:
    """The user id a valid token speaks for, and its expiry; anything else is a 401."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS},
        )
        return str(uuid.UUID(str(claims["sub"]))), int(claims["exp"])
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired.") from None
    except (jwt.InvalidTokenError, ValueError):
        raise Unauthorized("The access token is invalid.") from None


class AccessTokenReader:
    """Verifies access tokens, remembering each verified one until it expires: a client sends
    the same token for up to 30 minutes, and checking its signature again each time is most of
    what authentication costs. Only verified tokens are kept; expiry is checked on every use."""

    def __init__(self, settings: Settings, size: int = 4096) -> None:
        self.settings = settings
        self.size = size
        self._verified: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def user_id(self, token: str) -> str:
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            self._verified.move_to_end(token)
            return known[0]
        user_id, expires = read_access_token(self.settings, token)
        self._verified[token] = (user_id, expires)
        if len(self._verified) > self.size:
            self._verified.popitem(last=False)
        return user_id


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send an access token as 'Authorization: Bearer <token>'.")
    return token.strip()


def new_refresh_token() -> tuple[str, bytes]:
    """An opaque token of 256 random bits, and the hash that is all the database keeps."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_hash(token)


def refresh_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
