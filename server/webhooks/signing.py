"""Standard Webhooks signatures (https://www.standardwebhooks.com/): a secret is `whsec_` and
the base64 of a random key; each delivery carries `webhook-id` (the message, the same on every
attempt), `webhook-timestamp` (seconds, this attempt's) and `webhook-signature`:
`v1,` and the base64 of HMAC-SHA256 over `id.timestamp.body` under the key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
KEY_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def new_message_id() -> str:
    return f"msg_{secrets.token_hex(16)}"


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one attempt at a delivery."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{mac}",
    }
