"""The JSON log lines of `todo-api serve`: one object per line, the access line written straight
to the handler looks as the formatter writes any line, a turn's lines leave in one write, and
under load the access lines of a span of turns do (in writes a pipe keeps whole, none lost when
the process exits meanwhile)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.observability import logs

ROOT = Path(__file__).resolve().parent.parent


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.sizes: list[int] = []  # bytes of each write, as UTF-8

    def write(self, text: str) -> int:
        self.writes += 1
        self.sizes.append(len(text.encode()))
        return super().write(text)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[logs.LoopFlushedHandler]:
    """A handler of serve's kind, standing in for the one configure_logging would set up (which
    would take over the process's loggers for every later test)."""
    handler = logs.LoopFlushedHandler(CountingStream())
    handler.setFormatter(logs.JsonFormatter())
    monkeypatch.setattr(logs, "_access_handler", handler)
    logger = logging.getLogger("todo_api")
    monkeypatch.setattr(logger, "handlers", [handler])
    monkeypatch.setattr(logger, "propagate", False)
    level = logger.level
    logger.setLevel(logging.INFO)  # (setLevel also clears the loggers' cached levels)
    yield handler
    monkeypatch.undo()
    logger.setLevel(level)


def lines(handler: logs.LoopFlushedHandler) -> list[dict[str, object]]:
    stream = handler.stream
    assert isinstance(stream, CountingStream)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_direct_access_line_reads_as_a_formatted_one(handler: logs.LoopFlushedHandler) -> None:
    fields = {"request_id": "r1", "method": "GET", "path": "/health", "status": 200}
    logs.log_access(fields)
    logging.getLogger("todo_api.access").info("request", extra=fields)
    direct, formatted = lines(handler)
    assert direct.keys() == formatted.keys()
    assert {k: v for k, v in direct.items() if k != "ts"} == {
        k: v for k, v in formatted.items() if k != "ts"
    }
    assert (direct["logger"], direct["level"], direct["msg"]) == (
        "todo_api.access",
        "info",
        "request",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(direct["ts"]))


def test_a_turns_lines_leave_in_one_write_and_errors_at_once_in_order(
    handler: logs.LoopFlushedHandler,
) -> None:
    stream = handler.stream
    assert isinstance(stream, CountingStream)

    async def turn() -> tuple[int, int]:
        for n in range(5):
            logs.log_access({"n": n})
        before_error = stream.writes
        logging.getLogger("todo_api").error("boom")  # written at once, after the five
        logs.log_access({"n": 5})
        after_error = stream.writes
        await asyncio.sleep(0)  # the turn ends (its write was due before the error's)
        await asyncio.sleep(0)
        return before_error, after_error

    before_error, after_error = asyncio.run(turn())
    assert (before_error, after_error, stream.writes) == (0, 1, 2)
    assert [line.get("n", line["msg"]) for line in lines(handler)] == [0, 1, 2, 3, 4, "boom", 5]


def test_access_lines_within_the_span_of_the_last_write_leave_together_at_its_end(
    handler: logs.LoopFlushedHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle, a line is out by the end of its turn; busy, the access lines of the turns of the
    next GATHER_SECONDS share one write (a write a turn cost a GET 2-3% of its throughput),
    while another line still leaves at the end of its turn, with what had gathered."""
    monkeypatch.setattr(logs, "GATHER_SECONDS", 0.5)  # a stalled machine stays within it
    monkeypatch.setattr(logs._todo_api, "handlers", [handler])  # serve's, as they are
    stream = handler.stream
    assert isinstance(stream, CountingStream)

    async def turns() -> list[int]:
        writes = []
        logs.log_access({"n": 0})
        await asyncio.sleep(0)  # the turn ends: written
        writes.append(stream.writes)
        for n in (1, 2, 3):  # three more turns, within the span
            logs.log_access({"n": n})
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            writes.append(stream.writes)
        await asyncio.sleep(logs.GATHER_SECONDS * 2)  # the span ends: its write
        writes.append(stream.writes)
        await asyncio.sleep(logs.GATHER_SECONDS * 1.1)  # and the span of that write
        logs.log_access({"n": 4})  # idle again: written at the end of the turn
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        writes.append(stream.writes)
        logs.log_access({"n": 5})  # within the span of that write: gathered
        logging.getLogger("todo_api").info("stopping")  # not an access line: end of the turn
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        writes.append(stream.writes)
        return writes

    assert asyncio.run(turns()) == [1, 1, 1, 1, 2, 3, 4]
    assert [line.get("n", line["msg"]) for line in lines(handler)] == [
        *range(6),
        "stopping",
    ]


def test_no_write_is_larger_than_a_pipe_writes_whole(
    handler: logs.LoopFlushedHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers share one stdout: a write of more than PIPE_BUF bytes to a pipe may be cut
    into by another worker's, and a cut line is no JSON. Counted in bytes (UTF-8)."""
    monkeypatch.setattr(logs, "GATHER_SECONDS", 60.0)
    monkeypatch.setattr(logs._todo_api, "handlers", [handler])  # serve's, as they are
    stream = handler.stream
    assert isinstance(stream, CountingStream)
    sizes = stream.sizes

    async def busy() -> None:
        logs.log_access({"n": -1})
        await asyncio.sleep(0)  # written; the span begins
        for n in range(200):
            logs.log_access({"n": n, "title": "ĀāĂă" * 40})  # 160 characters, 320 bytes
            if n == 100:  # a line longer than a write (a traceback, say)
                logging.getLogger("todo_api").info("x" * 5000)
            await asyncio.sleep(0)

    asyncio.run(busy())
    handler._write_pending()  # what the exit writes
    long_line = [size for size in sizes if size > select.PIPE_BUF]
    assert len(long_line) == 1
    assert 5000 < long_line[0] < 5200  # that line alone (and whole: every line is read below)
    assert max(size for size in sizes if size not in long_line) <= select.PIPE_BUF == 4096
    assert len(sizes) < 200 / 5  # still gathered: about ten lines of ~390 bytes a write
    assert [line.get("n", "long") for line in lines(handler)] == [
        *range(-1, 101),
        "long",
        *range(101, 200),
    ]


def test_a_write_made_at_once_leaves_the_spans_write_due_alone(
    handler: logs.LoopFlushedHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error written at once within the span does not arm a second write for it: two would
    go on firing, each arming the next, for as long as the load lasts."""
    monkeypatch.setattr(logs, "GATHER_SECONDS", 60.0)
    monkeypatch.setattr(logs._todo_api, "handlers", [handler])  # serve's, as they are

    async def turns() -> int:
        loop = asyncio.get_running_loop()
        armed = 0
        call_later = loop.call_later

        def counted(delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
            nonlocal armed
            armed += 1
            return call_later(delay, callback, *args)

        monkeypatch.setattr(loop, "call_later", counted)
        logs.log_access({"n": 0})
        await asyncio.sleep(0)  # written; the span begins
        for n in range(1, 6):
            logs.log_access({"n": n})
            if n == 2:
                logging.getLogger("todo_api").error("boom")
            await asyncio.sleep(0)
        return armed

    assert asyncio.run(turns()) == 1
    handler._write_pending()
    assert [line.get("n", line["msg"]) for line in lines(handler)] == [0, 1, 2, "boom", 3, 4, 5]


GATHERED_AT_EXIT = """
import asyncio, multiprocessing, sys
from server.observability import logs

def serve() -> None:
    logs.GATHER_SECONDS = 60.0  # the span outlives the process
    logs.configure_logging()
    async def two_lines() -> None:
        logs.log_access({"n": 1})
        await asyncio.sleep(0)  # written at the end of the turn
        logs.log_access({"n": 2})  # gathered: its write is due after the loop has closed
    asyncio.run(two_lines())

if __name__ == "__main__":
    if sys.argv[1] == "worker":  # as Sanic runs its workers
        worker = multiprocessing.get_context("spawn").Process(target=serve)
        worker.start()
        worker.join()
    else:
        serve()
"""


@pytest.mark.parametrize("process", ["single", "worker"])
def test_lines_still_gathered_when_the_process_exits_are_written(
    process: str, tmp_path: Path
) -> None:
    """`todo-api serve` with one worker serves in its own process; with more, each worker is a
    spawned process."""
    script = tmp_path / "gathered.py"
    script.write_text(GATHERED_AT_EXIT)
    run = subprocess.run(  # noqa: S603
        [sys.executable, str(script), process],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [json.loads(line)["n"] for line in run.stdout.splitlines()] == [1, 2]


def test_access_lines_follow_the_loggers_level(handler: logs.LoopFlushedHandler) -> None:
    logging.getLogger("todo_api").setLevel(logging.WARNING)
    logs.log_access({"n": 1})
    assert lines(handler) == []


def test_another_handler_gets_the_access_lines_through_logging(
    handler: logs.LoopFlushedHandler, caplog: pytest.LogCaptureFixture
) -> None:
    """pytest's, or an embedding application's: the direct write would bypass it."""
    logger = logging.getLogger("todo_api")
    logger.addHandler(caplog.handler)
    try:
        logs.log_access({"request_id": "seen-by-both"})
    finally:
        logger.removeHandler(caplog.handler)
    assert [r.request_id for r in caplog.records] == ["seen-by-both"]  # type: ignore[attr-defined]
    assert [line["request_id"] for line in lines(handler)] == ["seen-by-both"]


def test_a_feed_secret_in_any_line_is_redacted(handler: logs.LoopFlushedHandler) -> None:
    """Sanic writes a request's URL when its client went away mid-request."""
    secret = "tdc_" + "Ab3_-" * 8 + "xyz"
    sanic_line = logging.makeLogRecord(
        {"name": "sanic.root", "msg": f"Request: GET http://h/calendar/{secret} stopped."}
    )
    held = logging.makeLogRecord({"name": "todo_api", "msg": "held", "path": f"/c/{secret}"})
    written = handler.format(sanic_line) + handler.format(held)
    assert secret not in written
    assert written.count("tdc_<secret>") == 2


def test_a_feed_secret_in_a_direct_access_line_is_redacted(
    handler: logs.LoopFlushedHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`todo-api serve` writes access lines without the formatter; a HEAD of a feed, a POST to
    it (405) or a malformed head (400) name no route's template and carry the path itself."""
    # serve's loggers as they are (pytest adds its capturing handlers as the test starts, and
    # a line then goes through logging and its formatter instead)
    monkeypatch.setattr(logs._todo_api, "handlers", [handler])
    secret = "tdc_" + "Ab3_-" * 8 + "xyz"
    for method, status in (("HEAD", 200), ("POST", 405), ("NONE", 400)):
        logs.log_access(
            {"request_id": "r", "method": method, "path": f"/calendar/{secret}", "status": status}
        )
    written = lines(handler)
    assert len(written) == 3
    assert all(line["path"] == "/calendar/tdc_<secret>" for line in written)


def test_an_access_line_too_long_for_one_write_is_cut_to_fit(
    handler: logs.LoopFlushedHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client chooses its path (up to Sanic's 8 KB head): a line past PIPE_BUF may be cut
    into by another worker's write on the pipe they share, and the cut loses both lines."""
    monkeypatch.setattr(logs._todo_api, "handlers", [handler])  # serve's, as they are
    stream = handler.stream
    assert isinstance(stream, CountingStream)
    sizes = stream.sizes
    paths = ["/api/" + "a" * 8000, "/api/" + "é" * 2100, "/api/\x01" * 700, "/api/tasks"]
    for path in paths:
        logs.log_access({"request_id": "r", "method": "GET", "path": path, "status": 404})
    written = lines(handler)
    assert max(sizes) <= select.PIPE_BUF
    assert [line["path"] for line in written[:3]] == [path[:64] + "…" for path in paths[:3]]
    assert [line.get("cut") for line in written] == [True, True, True, None]
    assert written[3]["path"] == "/api/tasks"
