"""Load: wrk driving one Lua workload script, and a light /health probe for the login storm."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent / "lua"
MARK = "BENCH_JSON "


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]  # "2xx" ... "5xx" -> count
    socket_errors: dict[str, int]  # connect, read, write, timeout
    sample: str = ""  # the first 4xx/5xx answer, for the report
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failures(self) -> int:
        return self.statuses.get("4xx", 0) + self.statuses.get("5xx", 0)


def wrk_missing() -> str | None:
    if shutil.which("wrk"):
        return None
    return (
        "bench: wrk, the load generator, is not installed. Install it with\n"
        "  sudo apt-get install -y wrk     (Debian, Ubuntu)\n"
        "  brew install wrk                (macOS)\n"
        "then run `make bench` again."
    )


def wrk(
    url: str,
    script: str,
    env: dict[str, str],
    seconds: float,
    connections: int = 32,
    threads: int = 1,
) -> Result:
    """One wrk run of bench/lua/<script>; its done() prints the numbers as one JSON line."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / script),
        url,
    ]
    run_env = {**os.environ, "LUA_PATH": f"{LUA}/?.lua;;", **env}
    done = subprocess.run(  # noqa: S603 - wrk with our own arguments
        command, env=run_env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            data = json.loads(line[len(MARK) :])
            return Result(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000,
                p90_ms=data["p90_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                max_ms=data["max_us"] / 1000,
                statuses=data["status"],
                socket_errors=data["errors"],
                sample=data.get("sample") or "",
            )
    raise RuntimeError(f"wrk printed no result ({done.returncode}): {done.stdout}{done.stderr}")


class HealthProbe(threading.Thread):
    """Sequential GET /health on one keep-alive connection, a few every 10 ms: a light client
    whose latency shows whether the event loop stays free."""

    def __init__(self, port: int, pause: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.port, self.pause = port, pause
        self.samples_ms: list[float] = []
        self.failures = 0
        self._halt = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while not self._halt.is_set():
                start = time.perf_counter()
                try:
                    conn.request("GET", "/health")
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                if ok:
                    self.samples_ms.append((time.perf_counter() - start) * 1000)
                else:
                    self.failures += 1
                self._halt.wait(self.pause)
        finally:
            conn.close()

    def finish(self) -> None:
        self._halt.set()
        self.join()

    def median_ms(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else float("nan")

    def p99_ms(self) -> float:
        if len(self.samples_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.samples_ms, n=100)[98]


def probe_health(port: int, seconds: float) -> HealthProbe:
    probe = HealthProbe(port)
    probe.start()
    time.sleep(seconds)
    probe.finish()
    return probe
