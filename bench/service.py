"""The service under test as a real process: `todo-api serve`, started and stopped for each run.

Its JSON log lines go to a file, read back after each stop for 5xx answers and errors.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.components import TODO_API

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TOKEN_TTL = 6 * 3600  # longer than any run, so minted tokens never expire mid-benchmark


@dataclass
class LogSummary:
    lines: int = 0
    server_errors: Counter[str] = field(default_factory=Counter)  # "500 GET /path" -> count
    messages: list[str] = field(default_factory=list)  # the first error-level messages
    cut_off_bound: int = 0  # requests that wrk may have left in flight when its runs ended
    rss_mb: tuple[float, float] | None = None  # a worker's resident memory: started, stopping


class Service:
    def __init__(
        self, dsn: str, secret: str, log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.dsn, self.secret, self.log_path = dsn, secret, log_path
        self.env = env or {}  # settings of this service's own
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.cut_off = 0  # wrk connections since start: requests left in flight, at most one each
        self.rss_at_start = 0.0  # MB, of its worker once ready (one worker: the process)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, validation: str, workers: int = 1) -> None:
        self.port, self.cut_off = free_port(), 0
        env = {
            **os.environ,
            "DATABASE_URL": self.dsn,
            "JWT_SECRET": self.secret,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WORKERS": str(workers),
            "OPENAPI_VALIDATION": validation,
            "ACCESS_TOKEN_TTL": str(TOKEN_TTL),
            "DATA_DIR": ".data/bench",
            # One address drives the load: measured is the path, not per-client admission.
            "HASH_QUEUE_SIZE": "1024",
            # The account of 50,000 tasks is at the default quota: its creates must be measured.
            "TASK_QUOTA": "1000000",
            **self.env,
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own entry point
                self.command(),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(workers)
        self.rss_at_start = self.rss_mb() if workers == 1 else 0.0

    def rss_mb(self) -> float:
        """The resident memory of the process (one worker: the worker), in MB."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status")
        if not status.exists():
            return 0.0
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _wait_ready(self, workers: int, timeout: float = 120) -> None:
        """/ready answers 200 once one worker is up: wait for every worker's "Worker ready"."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited on start; see {self.log_path}")
            try:
                if self.call("GET", "/ready")[0] == 200 and self._workers_ready() >= workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the service was not ready in {timeout:.0f} s; see {self.log_path}")

    def command(self) -> list[str]:
        return [str(TODO_API), "serve"]

    def _workers_ready(self) -> int:
        return self.log_path.read_bytes().count(b'"msg":"Worker ready [')

    def stop(self) -> LogSummary:
        """SIGTERM, as a supervisor would; anything of ours left after 20 s is killed."""
        rss = (self.rss_at_start, self.rss_mb()) if self.rss_at_start else None
        process, self.process = self.process, None
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print("  the service ignored SIGTERM for 20 s: killed", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its workers, if any outlived it
            process.wait()
        summary = read_log(self.log_path)
        summary.cut_off_bound = self.cut_off
        summary.rss_mb = rss
        return summary

    def call(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any]:
        """One request on a new connection: (status, parsed JSON body or None)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, payload, headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        kind = response.getheader("Content-Type") or ""
        return response.status, json.loads(data) if data and "json" in kind else None


class BareService(Service):
    """bench/bare.py, a reference server: one process, ready when /ready answers."""

    module = "bench.bare"

    def start(self, validation: str = "off", workers: int = 1) -> None:
        super().start("off", 1)  # it validates nothing and has one process, whatever is asked
        self.rss_at_start = 0.0  # not the service's memory

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module]

    def _workers_ready(self) -> int:
        return 1


class PlainService(BareService):
    """bench/plain.py, the reference of the simplest SQL."""

    module = "bench.plain"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_log(path: Path, keep: int = 5) -> LogSummary:
    summary = LogSummary()
    with path.open("rb") as log:
        for raw in log:
            summary.lines += 1
            if b'"status":5' not in raw and b'"level":"error"' not in raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            status = line.get("status")
            if isinstance(status, int) and status >= 500:
                route = UUID.sub("{id}", str(line.get("path")))
                summary.server_errors[f"{status} {line.get('method')} {route}"] += 1
            elif line.get("level") == "error" and len(summary.messages) < keep:
                summary.messages.append(str(line.get("msg"))[:300])
    return summary
