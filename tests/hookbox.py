"""A webhook receiver of the tests' own, on loopback: it keeps each POST it receives (path,
lower-cased headers, body) and answers from a script of answers, one per request (then 200):
a status, a status and a body, `"hang"` (no answer for `hang_seconds`: the sender's timeout
runs out first), or `"gate"` (200 once the test opens the gate)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = int | str | tuple[int, bytes]


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


class Hookbox:
    def __init__(self, hang_seconds: float = 3.0) -> None:
        self.received: list[Hook] = []
        self.script: list[Answer] = []
        self.hang_seconds = hang_seconds
        self.lock = threading.Lock()
        self._released = threading.Event()
        self.gate = threading.Event()
        box = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with box.lock:
                    box.received.append(Hook(self.path, headers, body))
                    answer = box.script.pop(0) if box.script else 200
                if answer == "hang":
                    box._released.wait(box.hang_seconds)
                    answer = 200  # too late: the sender stopped listening
                if answer == "gate":
                    box.gate.wait(30)
                    answer = 200
                if isinstance(answer, tuple):
                    answer, with_body = answer
                else:  # more than the sender keeps
                    with_body = (f"answer {answer}: " + "x" * 5000).encode()
                try:
                    self.send_response(int(answer))
                    self.send_header("Content-Length", str(len(with_body)))
                    self.end_headers()
                    self.wfile.write(with_body)
                except OSError:
                    pass  # the sender hung up

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hookbox:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._released.set()
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, *answers: Answer) -> None:
        with self.lock:
            self.script.extend(answers)

    def hooks(self) -> list[Hook]:
        with self.lock:
            return list(self.received)

    def wait(self, count: int, idle: Callable[[float], object], within: float = 30) -> list[Hook]:
        deadline = time.monotonic() + within
        while len(self.hooks()) < count:
            assert time.monotonic() < deadline, f"{len(self.hooks())} of {count} hooks came"
            idle(0.05)
        return self.hooks()
