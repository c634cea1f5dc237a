"""A service of several workers stopped as a terminal's Ctrl-C or a supervisor stops it: the
signal goes to the whole process group, and Sanic's manager then signals each worker again.
A signal landing while a worker already stops must not start its stop over: that cut its work
short (its connections left open, its background work unfinished) or waited out the outbox
senders' stop bound (10 s) before the worker, and `make run`, exited."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from typing import Any

from tests.live import serve_fresh

WORKERS = 2
BOUND = 8.0  # seconds: a clean stop takes well under one; a restarted one waited 10 more


def test_a_second_stop_signal_to_each_worker_does_not_hold_the_stop_up(
    admin_dsn: str, tmp_path_factory: Any
) -> None:
    with serve_fresh(admin_dsn, tmp_path_factory, "stopping", workers=WORKERS) as server:
        assert server.process is not None
        started_log = server.log_path.read_text(errors="replace")
        workers = [int(pid) for pid in re.findall(r"Starting worker \[(\d+)\]", started_log)]
        assert len(workers) == WORKERS, started_log
        started = time.monotonic()
        os.killpg(server.process.pid, signal.SIGINT)
        while server.process.poll() is None and time.monotonic() - started < BOUND:
            for worker in workers:  # as the manager's own SIGINT, all through their stop
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker, signal.SIGINT)
            time.sleep(0.01)
        if server.process.poll() is None:
            raise AssertionError(f"still stopping after {BOUND} s")
        elapsed = time.monotonic() - started
    assert elapsed < BOUND
    assert server.process.returncode == 0
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-2000:]
    completed = re.findall(r"Worker complete \[(\d+)\]", log)
    assert len(completed) == WORKERS
    # Each worker's stop ran to its end, once (a restarted one began it up to four times and
    # ended it twice, or never: its connections and background work left to the exit).
    ended = re.findall(r"worker (\d+) stopped: background work ended", log)
    assert sorted(ended) == sorted(completed)
