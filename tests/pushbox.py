"""A push service of the tests' own (RFC 8030), on loopback: each push it receives is decrypted
with the subscription's private keys (RFC 8291, aes128gcm) and its VAPID JWT checked (RFC 8292:
ES256 under the key it names, audience this origin, not expired). A path may be told to answer
410 (the subscription is gone)."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A subscription's keys, as a browser makes them."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: __import__("os").urandom(16))

    def keys(self) -> dict[str, str]:
        point = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"p256dh": b64url(point), "auth": b64url(self.auth)}


@dataclass
class Push:
    path: str
    data: dict[str, Any]
    claims: dict[str, Any]
    server_key: str  # the `k` of the Authorization header
    headers: dict[str, str]  # lower-cased names


class Pushbox:
    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}
        self.gone: set[str] = set()
        self.received: list[Push] = []
        self.refused: list[str] = []
        self.lock = threading.Lock()
        box = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path in box.gone:
                    box.refused.append(self.path)
                    self.send_response(410)
                    self.end_headers()
                    return
                headers = {name.lower(): value for name, value in self.headers.items()}
                push = box.open(self.path, body, headers)
                with box.lock:
                    box.received.append(push)
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def subscription(self, name: str) -> dict[str, Any]:
        browser = self.browsers.setdefault(f"/push/{name}", Browser())
        return {"endpoint": f"{self.origin}/push/{name}", "keys": browser.keys()}

    def open(self, path: str, body: bytes, headers: dict[str, str]) -> Push:
        assert headers["content-encoding"] == "aes128gcm"
        assert int(headers["ttl"]) > 0
        scheme, _, params = headers["authorization"].partition(" ")
        assert scheme == "vapid"
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        server_key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), unb64url(fields["k"])
        )
        claims = jwt.decode(fields["t"], server_key, algorithms=["ES256"], audience=self.origin)
        assert claims["exp"] <= time.time() + 24 * 3600
        assert claims["sub"].startswith(("mailto:", "https:"))
        browser = self.browsers[path]
        plain = http_ece.decrypt(
            body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm"
        )
        return Push(path, json.loads(plain), claims, fields["k"], headers)

    def __enter__(self) -> Pushbox:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, count: int, idle: Callable[[float], object], within: float = 30) -> list[Push]:
        deadline = time.monotonic() + within
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} pushes came"
            idle(0.05)
        return list(self.received)
