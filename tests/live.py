"""The service as a real process, for the tests that need one (conformance, load).

`LiveServer` runs `todo-api serve` on a free port, with the login limits raised: a fuzzer's
stream of failed logins from one address would otherwise lock the test's own (successful)
logins out for 15 minutes.
The process's JSON log goes to a file, read back for 5xx answers and contract breaks.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from server.db import migrations
from server.db.embedded import create_database, with_database
from tests import ROOT
from tests.support import free_port

HIGH_LOGIN_LIMIT = 1_000_000


def fresh_database(admin_dsn: str, name: str) -> str:
    """A new database on the test PostgreSQL, built by the real migrations (named for this
    process, so concurrent sessions on one server never share it)."""
    name = f"{name}_{os.getpid()}"
    create_database(admin_dsn, name, fresh=True)
    dsn = with_database(admin_dsn, name)
    migrations.apply(dsn)
    return dsn


@dataclass
class LogSummary:
    lines: int = 0
    server_errors: Counter[str] = field(default_factory=Counter)  # "500 GET /path" -> count
    errors: list[str] = field(default_factory=list)  # error-level messages (contract breaks too)


@contextlib.contextmanager
def serve_fresh(
    admin_dsn: str, tmp_path_factory: Any, name: str, **kwargs: Any
) -> Iterator[LiveServer]:
    """A live service on a fresh database called `name`, logging to a temporary file."""
    dsn = fresh_database(admin_dsn, name)
    with LiveServer(dsn, tmp_path_factory.mktemp(name) / "service.log", **kwargs) as server:
        yield server


class LiveServer:
    def __init__(
        self,
        dsn: str,
        log_path: Path,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        command: Path | None = None,
        cwd: Path = ROOT,
    ) -> None:
        """command: the todo-api to run (this environment's by default), in folder cwd."""
        self.dsn, self.log_path, self.workers = dsn, log_path, workers
        self.extra_env = env or {}
        self.command = command or Path(sys.executable).with_name("todo-api")
        self.cwd = cwd
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self.dsn,
            "JWT_SECRET": os.urandom(32).hex(),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WORKERS": str(self.workers),
            "BCRYPT_ROUNDS": "4",
            "OPENAPI_VALIDATION": "full",
            "APP_ENV": "development",
            "DATA_DIR": str(ROOT / ".data" / "live"),
            "LOGIN_LIMIT_PER_EMAIL_CLIENT": str(HIGH_LOGIN_LIMIT),
            "LOGIN_LIMIT_PER_EMAIL": str(HIGH_LOGIN_LIMIT),
            "SIGNUP_LIMIT_PER_HOUR": str(HIGH_LOGIN_LIMIT),
            "HASH_QUEUE_SIZE": "1024",
            "LOGIN_LIMIT_PER_CLIENT": str(HIGH_LOGIN_LIMIT),
            **self.extra_env,
        }
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own entry point
                [str(self.command), "serve"],
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited on start:\n{self.log_path.read_text()}")
            if self._serving():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the service was not ready in {timeout}s:\n{self.log_path.read_text()}")

    def _serving(self) -> bool:
        """/ready answers 200 and every worker has said it is ready: the first one up answers
        /ready while another may still be starting (a test of how requests spread over the
        workers would see one)."""
        log = self.log_path.read_text(errors="replace")
        if log.count('"msg":"Worker ready [') < self.workers:
            return False
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
        return False

    def stop(self, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def log_summary(self) -> LogSummary:
        summary = LogSummary()
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            summary.lines += 1
            if isinstance(line.get("status"), int) and line["status"] >= 500:
                key = f"{line['status']} {line.get('method')} {line.get('path')}"
                summary.server_errors[key] += 1
            if str(line.get("level", "")).lower() in ("error", "critical"):
                summary.errors.append(str(line.get("message") or line.get("msg") or raw))
        return summary
