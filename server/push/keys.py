"""The VAPID key pair (RFC 8292): VAPID_PRIVATE_KEY in production (the base64url private key
`todo-api vapid` prints), else made once in DATA_DIR/vapid-private-key (development) and kept,
so browsers' subscriptions outlive restarts."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02

from server.config import Settings

KEY_FILE = "vapid-private-key"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_private_key() -> str:
    """A fresh P-256 private key, base64url (the form VAPID_PRIVATE_KEY takes)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def vapid_key(settings: Settings) -> Vapid02:
    """The service's VAPID key pair (read, or in development made once)."""
    raw = settings.vapid_private_key or _development_key(settings.data_dir)
    return Vapid02.from_string(raw)


def public_key(vapid: Vapid02) -> str:
    """The application server key a browser subscribes with: the uncompressed point, base64url."""
    point = vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return b64url(point)


def _development_key(data_dir: Path) -> str:
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{KEY_FILE}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_private_key())
        # Linked into place only if no other worker got there first: every worker reads one key.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()
