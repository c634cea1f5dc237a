"""A password's bcrypt hash, made and checked on the admission queue's threads
(server/admission.py), never on the event loop."""

from __future__ import annotations

import base64
import functools
import hashlib

import bcrypt

from server.admission import Admission
from server.errors import ServiceUnavailable


class HashingBusy(ServiceUnavailable):
    """The admission queue's refusal: too much password work waits already."""

    slug = "hashing-busy"
    default_detail = "Too much password work is waiting; retry shortly."


def _prehash(password: str) -> bytes:
    """bcrypt reads 72 bytes; SHA-256 first makes every character count (44 base64 bytes).

    base64 because bcrypt stops at a NUL byte; `surrogatepass` so even a lone surrogate from JSON
    hashes instead of failing."""
    digest = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest)


def hash_password_blocking(password: str, rounds: int) -> str:
    """The bcrypt hash of a password. Blocks for its whole cost: call it off the event loop."""
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


def check_password_blocking(password: str, hashed: str) -> bool:
    """True when the password matches the hash. Blocks like hashing does."""
    return bcrypt.checkpw(_prehash(password), hashed.encode())


async def hash_password(admission: Admission, password: str, rounds: int) -> str:
    return await admission.run(hash_password_blocking, password, rounds)


async def verify_password(
    admission: Admission, password: str, hashed: str | None, rounds: int
) -> bool:
    """With no hash (unknown account) a dummy check of the same cost runs, so timing reveals
    nothing."""
    matches = await admission.run(check_password_blocking, password, hashed or _dummy(rounds))
    return matches and hashed is not None


@functools.cache
def _dummy(rounds: int) -> str:
    """A well-formed hash of this cost that no password matches: checking against it costs what
    a real check costs, and making it costs nothing."""
    return (bcrypt.gensalt(rounds) + b"A" * 31).decode()
